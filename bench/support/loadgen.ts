// Load generator: a separate process holding N WebSocket clients, driven
// over IPC by the bench coordinator (bench/run.ts) so the server process is
// measured alone. Every timestamp is process.hrtime (CLOCK_MONOTONIC on Linux,
// comparable across processes on one machine).
//
// Source addresses are spread over 127.0.1.1–127.0.1.250: Herald limits
// handshakes per client IP (10/s, burst 50, not configurable from the
// environment), so a single source address could open only 50 sockets at
// once. Real clients come from many addresses; traffic stays on loopback.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

type Mode = 'herald' | 'plain';

interface Client {
  i: number;
  token: string;
  ws: WebSocket | null;
  /** Highest contiguous seq applied (storm) or -1. */
  lastSeq: number;
  lost: number;
  dups: number;
  /** storm: set when the post-drop replay reached the head announced by `subscribed`. */
  caughtUpAt: number;
  reconnectedAt: number;
  targetHead: number;
  attempts: number;
  /** storm timeline (ms, monotonic): socket closed, welcome, subscribed. */
  closedAt: number;
  retryAt: number;
  welcomeAt: number;
  subscribedAt: number;
}

interface ConnectCmd {
  cmd: 'connect';
  mode: Mode;
  url: string;
  tokens: string[];
  conversation: string | null;
  concurrency?: number;
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic
const send = (m: unknown) => process.send?.(m);

let clients: Client[] = [];
let mode: Mode = 'herald';
let url = '';
let conversation: string | null = null;
/** fan-out tracking: seq → receivers so far / first / last receive time. */
const seen = new Map<number, { n: number; first: number; last: number }>();
let storm = false;
let stormDropAt = 0;
let otherBytes = 0;
let otherFrames = 0;

const SEQ = Buffer.from('"seq":');
/** The top-level seq of an event frame, or -1 (other frames). Cheap: no JSON.parse per frame. */
function seqOf(buf: Buffer): number {
  // Herald's frames come from jsonb (keys by length: "seq" first); the baseline's start with type.
  if (buf.indexOf('"event"') < 0 || (buf.indexOf('"type":"event"') < 0 && buf.indexOf('"type": "event"') < 0))
    return -1;
  const at = buf.indexOf(SEQ);
  if (at < 0) return -1;
  let p = at + SEQ.length;
  while (buf[p] === 32) p++;
  let n = 0;
  let digits = 0;
  while (buf[p] >= 48 && buf[p] <= 57) {
    n = n * 10 + (buf[p] - 48);
    p++;
    digits++;
  }
  return digits ? n : -1;
}

function localAddress(i: number): string {
  return `127.0.1.${(i % 250) + 1}`;
}

function onEvent(c: Client, seq: number): void {
  if (storm) {
    if (seq <= c.lastSeq) {
      c.dups++;
      return;
    }
    if (c.lastSeq >= 0 && seq > c.lastSeq + 1) c.lost += seq - c.lastSeq - 1;
    c.lastSeq = seq;
    if (!c.caughtUpAt && c.targetHead > 0 && seq >= c.targetHead) c.caughtUpAt = now();
    return;
  }
  const t = now();
  let s = seen.get(seq);
  if (!s) {
    s = { n: 0, first: t, last: t };
    seen.set(seq, s);
  }
  s.n++;
  s.last = t;
  if (s.n === clients.length) send({ type: 'all', seq, first: s.first, last: s.last });
}

/** Opens one client; resolves once it is ready (Herald: welcomed and subscribed). */
function open(c: Client, sinceSeq: number | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: mode === 'herald' ? { authorization: `Bearer ${c.token}` } : {},
      localAddress: localAddress(c.i),
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    c.ws = ws;
    let ready = false;
    let established = false;
    const done = (err?: Error) => {
      if (ready) return;
      ready = true;
      established = !err;
      if (err) reject(err);
      else resolve();
    };
    ws.on('open', () => {
      if (mode === 'plain') {
        if (conversation)
          ws.send(JSON.stringify({ type: 'subscribe', conversation, since_seq: sinceSeq ?? undefined }));
        done();
      }
    });
    ws.on('message', (data: Buffer) => {
      const seq = seqOf(data);
      if (seq >= 0) return onEvent(c, seq);
      otherFrames++;
      otherBytes += data.length;
      if (ready) return;
      const text = data.toString();
      if (text.includes('"welcome"')) {
        c.welcomeAt = now();
        if (!conversation) return done();
        ws.send(
          JSON.stringify({
            type: 'subscribe',
            conversation,
            ...(sinceSeq !== null ? { since_seq: sinceSeq } : {}),
          }),
        );
      } else if (text.includes('"subscribed"')) {
        const f = JSON.parse(text) as { head_seq: number };
        c.subscribedAt = now();
        if (storm) {
          if (c.lastSeq < 0) c.lastSeq = f.head_seq;
          c.targetHead = f.head_seq;
          if (c.lastSeq >= f.head_seq && !c.caughtUpAt && stormDropAt) c.caughtUpAt = now();
        }
        done();
      } else if (text.includes('"error"')) {
        done(new Error(`client ${c.i}: ${text.slice(0, 200)}`));
      }
    });
    ws.on('unexpected-response', (_req, res) => done(new Error(`client ${c.i}: HTTP ${res.statusCode}`)));
    ws.on('error', (err) => done(err));
    ws.on('close', (code) => {
      done(new Error(`client ${c.i}: closed ${code}`));
      if (storm && established && c.ws === ws && stormDropAt) {
        c.closedAt = now();
        void reconnect(c);
      }
    });
  });
}

async function connectAll(cmd: ConnectCmd): Promise<number> {
  mode = cmd.mode;
  url = cmd.url;
  conversation = cmd.conversation;
  clients = cmd.tokens.map((token, i) => ({
    i,
    token,
    ws: null,
    lastSeq: -1,
    lost: 0,
    dups: 0,
    caughtUpAt: 0,
    reconnectedAt: 0,
    targetHead: 0,
    attempts: 0,
    closedAt: 0,
    retryAt: 0,
    welcomeAt: 0,
    subscribedAt: 0,
  }));
  const t0 = now();
  let next = 0;
  const workers = Array.from({ length: cmd.concurrency ?? 100 }, async () => {
    for (;;) {
      const i = next++;
      if (i >= clients.length) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await open(clients[i], null);
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        }
      }
    }
  });
  await Promise.all(workers);
  return now() - t0;
}

// Herald clients heartbeat every ~30 s like the SDK (1/30 of them each second).
let hbCursor = 0;
setInterval(() => {
  if (mode !== 'herald' || clients.length === 0) return;
  const k = Math.ceil(clients.length / 30);
  for (let j = 0; j < k; j++) {
    const c = clients[hbCursor++ % clients.length];
    if (c.ws?.readyState === WebSocket.OPEN) c.ws.send('{"type":"heartbeat"}');
  }
}, 1000).unref();

// ---- reconnect storm ---------------------------------------------------------

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 1000;

async function reconnect(c: Client): Promise<void> {
  for (;;) {
    // Full jitter: uniform in [0, min(cap, base·2^attempt)).
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** c.attempts);
    c.attempts++;
    await new Promise((r) => setTimeout(r, delay));
    c.retryAt = now();
    try {
      c.targetHead = 0;
      await open(c, c.lastSeq);
      c.reconnectedAt = now();
      if (mode === 'plain') c.caughtUpAt = c.reconnectedAt; // nothing to replay: live from now
      return;
    } catch {
      // refused (429) or closed before ready: back off and try again
    }
  }
}

function dropAll(): void {
  loopDelay.reset();
  stormDropAt = now();
  for (const c of clients) {
    c.caughtUpAt = 0;
    c.reconnectedAt = 0;
    c.attempts = 0;
    c.ws?.terminate();
  }
}

function timeline() {
  const q = (f: (c: Client) => number) => {
    const xs = clients
      .map(f)
      .filter((x) => x > 0)
      .sort((a, b) => a - b);
    if (!xs.length) return null;
    const r = (x: number) => Math.round(x - stormDropAt);
    return { p50: r(xs[Math.floor(xs.length / 2)]), max: r(xs[xs.length - 1]) };
  };
  return {
    closed: q((c) => c.closedAt),
    retry: q((c) => c.retryAt),
    reconnected: q((c) => c.reconnectedAt),
    welcome: q((c) => c.welcomeAt),
    subscribed: q((c) => c.subscribedAt),
    caughtUp: q((c) => c.caughtUpAt),
  };
}

function stormReport(head: number) {
  const upTimes = clients.map((c) => (c.caughtUpAt ? c.caughtUpAt - stormDropAt : Number.POSITIVE_INFINITY));
  upTimes.sort((a, b) => a - b);
  const behind = clients.filter((c) => c.lastSeq < head).length;
  const lostPer = clients.map((c) => c.lost + Math.max(0, head - c.lastSeq)).sort((a, b) => a - b);
  return {
    clients: clients.length,
    lostClients: clients.filter((c) => c.lost > 0 || c.lastSeq < head).length,
    behind,
    medianLost: lostPer[Math.floor(lostPer.length / 2)],
    maxLost: lostPer[lostPer.length - 1],
    dups: clients.reduce((a, c) => a + c.dups, 0),
    reconnected: clients.filter((c) => c.reconnectedAt > 0).length,
    caughtUpMaxMs: upTimes[upTimes.length - 1],
    caughtUpP50Ms: upTimes[Math.floor(upTimes.length / 2)],
    attemptsMax: Math.max(...clients.map((c) => c.attempts)),
    timeline: timeline(),
    loadgenLoopDelayMaxMs: Math.round(loopDelay.max / 1e6),
  };
}

process.on('message', async (m: { cmd: string } & Record<string, unknown>) => {
  try {
    switch (m.cmd) {
      case 'connect': {
        storm = Boolean(m.storm);
        const ms = await connectAll(m as unknown as ConnectCmd);
        send({ type: 'connected', ms, otherFrames, otherBytes });
        return;
      }
      case 'stats':
        send({
          type: 'stats',
          otherFrames,
          otherBytes,
          open: clients.filter((c) => c.ws?.readyState === WebSocket.OPEN).length,
        });
        return;
      case 'drop':
        dropAll();
        send({ type: 'dropped' });
        return;
      case 'storm-report':
        send({ type: 'storm-report', report: stormReport(m.head as number) });
        return;
      case 'close': {
        for (const c of clients) c.ws?.terminate();
        clients = [];
        seen.clear();
        otherFrames = 0;
        otherBytes = 0;
        send({ type: 'closed' });
        return;
      }
      case 'exit':
        process.exit(0);
    }
  } catch (err) {
    send({ type: 'error', message: (err as Error).message });
  }
});
send({ type: 'up' });
