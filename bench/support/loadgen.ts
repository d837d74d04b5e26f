// Load generator: a separate process holding N clients, driven over IPC by
// the bench coordinator (bench/run.ts) so the servers are measured alone.
// One client per user; each joins a list of rooms. Three client kinds, one
// per system under test (the shim in support/systems.ts says which):
//   herald   — `ws`, Bearer token, `subscribe` per room (with since_seq on resume);
//   socketio — socket.io-client, websocket transport only, `join` per room (ack);
//   plain    — `ws` to the plain reference server (one room: every socket).
// Every timestamp is process.hrtime (CLOCK_MONOTONIC on Linux, comparable
// across processes on one machine).
//
// For each (room, seq) it reports over IPC when every client of that room has
// it ('all': first and last receive time). Per client it tracks, per room, the
// highest seq applied, holes (lost) and duplicates, for the drop scenarios.
//
// Source addresses are spread over 127.0.1.1–127.0.1.250 (Herald limits
// handshakes per client IP; real clients come from many addresses).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

export type Mode = 'herald' | 'plain' | 'socketio';

/** One client as the coordinator describes it. */
export interface ClientSpec {
  url: string;
  /** Herald: access token. Socket.IO: user id. Plain: unused. */
  credential: string;
  rooms: string[];
}

interface Client extends ClientSpec {
  i: number;
  ws: WebSocket | null;
  sio: Socket | null;
  /** Highest seq applied per room (absent: nothing seen yet). */
  last: Map<string, number>;
  /** Head announced by `subscribed` after a resume, per room still to reach. */
  target: Map<string, number>;
  /** Seqs skipped over and not (yet) received, as `room|seq`: losses unless they arrive late. */
  missing: Set<string>;
  /** Events that arrived after a later seq of the same room (out of order). */
  late: number;
  dups: number;
  caughtUpAt: number;
  reconnectedAt: number;
  attempts: number;
  /** A reconnect loop is running for this client. */
  reconnecting: boolean;
  closedAt: number;
  welcomeAt: number;
  subscribedAt: number;
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic
const send = (m: unknown) => process.send?.(m);
const PLAIN_ROOM = '*';

let clients: Client[] = [];
let mode: Mode = 'herald';
/** Clients per room: an (room, seq) is complete when this many have it. */
let expected = new Map<string, number>();
const seen = new Map<string, { n: number; first: number; last: number }>();
let resuming = false;
let dropAt = 0;
let outageMs = 0;
let otherBytes = 0;
let otherFrames = 0;

const SEQ = Buffer.from('"seq":');
const CONV = Buffer.from('"conversation":"');

/** The top-level seq of a Herald/plain event frame, or -1 (other frames). No JSON.parse per frame. */
function seqOf(buf: Buffer): number {
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

/** The frame's top-level `conversation` (not `conversation_id`); a one-room client's room otherwise. */
function roomOf(c: Client, buf: Buffer): string {
  if (mode === 'plain') return PLAIN_ROOM;
  if (c.rooms.length === 1) return c.rooms[0];
  const at = buf.indexOf(CONV);
  if (at < 0) return c.rooms[0];
  const from = at + CONV.length;
  return buf.toString('latin1', from, buf.indexOf(34, from));
}

function localAddress(i: number): string {
  return `127.0.1.${(i % 250) + 1}`;
}

function onEvent(c: Client, room: string, seq: number): void {
  const t = now();
  const prev = c.last.get(room);
  const key = `${room}|${seq}`;
  if (prev !== undefined && seq <= prev) {
    // Below the highest seen: a hole filled late (out of order) or a duplicate.
    if (!c.missing.delete(key)) {
      c.dups++;
      return;
    }
    c.late++;
  } else {
    if (prev !== undefined) for (let s = prev + 1; s < seq; s++) c.missing.add(`${room}|${s}`);
    c.last.set(room, seq);
  }
  const goal = c.target.get(room);
  if (goal !== undefined && seq >= goal) {
    c.target.delete(room);
    if (c.target.size === 0 && !c.caughtUpAt) c.caughtUpAt = t;
  }
  let s = seen.get(key);
  if (!s) {
    s = { n: 0, first: t, last: t };
    seen.set(key, s);
  }
  s.n++;
  s.last = t;
  if (s.n === expected.get(room)) {
    seen.delete(key);
    send({ type: 'all', key, first: s.first, last: s.last });
  }
}

/** After a resume, a client is caught up once it holds every head its `subscribed` frames announced. */
function setTarget(c: Client, room: string, head: number): void {
  const have = c.last.get(room);
  if (have === undefined) c.last.set(room, head); // fresh subscription: live from the head
  if (!resuming || !dropAt) return;
  if ((have ?? head) >= head) c.target.delete(room);
  else c.target.set(room, head);
}

function openHerald(c: Client, resume: boolean, done: (err?: Error) => void): void {
  const ws = new WebSocket(c.url, {
    headers: { authorization: `Bearer ${c.credential}` },
    localAddress: localAddress(c.i),
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  c.ws = ws;
  let pending = c.rooms.length;
  ws.on('message', (data: Buffer) => {
    const seq = seqOf(data);
    if (seq >= 0) return onEvent(c, roomOf(c, data), seq);
    otherFrames++;
    otherBytes += data.length;
    const text = data.toString();
    if (text.includes('"welcome"')) {
      c.welcomeAt = now();
      if (resume) for (const r of c.rooms) c.target.set(r, Number.POSITIVE_INFINITY);
      if (pending === 0) return done();
      for (const room of c.rooms) {
        const since = resume ? c.last.get(room) : undefined;
        ws.send(
          JSON.stringify({
            type: 'subscribe',
            conversation: room,
            ...(since !== undefined ? { since_seq: since } : {}),
          }),
        );
      }
    } else if (text.includes('"subscribed"')) {
      const f = JSON.parse(text) as { conversation: string; head_seq: number };
      setTarget(c, f.conversation, f.head_seq);
      if (--pending === 0) {
        c.subscribedAt = now();
        if (resume && c.target.size === 0 && !c.caughtUpAt) c.caughtUpAt = now();
        done();
      }
    } else if (text.includes('"type":"error"')) {
      done(new Error(`client ${c.i}: ${text.slice(0, 200)}`));
    }
  });
  ws.on('unexpected-response', (_req, res) => done(new Error(`client ${c.i}: HTTP ${res.statusCode}`)));
  ws.on('error', (err) => done(err));
  ws.on('close', (code) => {
    done(new Error(`client ${c.i}: closed ${code}`));
    onClosed(c, ws);
  });
}

function openPlain(c: Client, done: (err?: Error) => void): void {
  const ws = new WebSocket(c.url, {
    localAddress: localAddress(c.i),
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  c.ws = ws;
  ws.on('open', () => done());
  ws.on('message', (data: Buffer) => {
    const seq = seqOf(data);
    if (seq >= 0) onEvent(c, PLAIN_ROOM, seq);
  });
  ws.on('unexpected-response', (_req, res) => done(new Error(`client ${c.i}: HTTP ${res.statusCode}`)));
  ws.on('error', (err) => done(err));
  ws.on('close', (code) => {
    done(new Error(`client ${c.i}: closed ${code}`));
    onClosed(c, ws);
  });
}

function openSocketIo(c: Client, done: (err?: Error) => void): void {
  // Reconnection is the bench's (same full-jitter backoff for every system), not socket.io-client's.
  const sio = io(c.url, {
    transports: ['websocket'],
    auth: { user: c.credential },
    reconnection: false,
    forceNew: true,
    ...({ localAddress: localAddress(c.i), perMessageDeflate: false } as object),
  });
  c.sio = sio;
  sio.on('message', (m: { conversation: string; seq: number }) => onEvent(c, m.conversation, m.seq));
  sio.on('connect', async () => {
    c.welcomeAt = now();
    try {
      const acks = await Promise.all(
        c.rooms.map(
          (r) => sio.timeout(30_000).emitWithAck('join', r) as Promise<{ ok: boolean; error?: string }>,
        ),
      );
      const bad = acks.find((a) => !a.ok);
      if (bad) return done(new Error(`client ${c.i}: join: ${bad.error}`));
      c.subscribedAt = now();
      done();
    } catch (err) {
      done(err as Error);
    }
  });
  sio.on('connect_error', (err) => done(err));
  sio.on('disconnect', () => {
    done(new Error(`client ${c.i}: disconnected`));
    onClosed(c, sio);
  });
}

/** Opens one client; resolves once it is ready (joined/subscribed to all its rooms). */
function open(c: Client, resume: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) {
        c.ws?.terminate();
        c.sio?.disconnect();
        reject(err);
      } else resolve();
    };
    if (mode === 'herald') openHerald(c, resume, done);
    else if (mode === 'plain') openPlain(c, done);
    else openSocketIo(c, done);
  });
}

function onClosed(c: Client, conn: WebSocket | Socket): void {
  if (!resuming || !dropAt || (c.ws !== conn && c.sio !== conn) || c.reconnecting) return;
  c.reconnecting = true;
  if (!c.closedAt) c.closedAt = now();
  c.ws = null;
  c.sio = null;
  void reconnect(c);
}

async function connectAll(specs: ClientSpec[], concurrency: number): Promise<number> {
  clients = specs.map((s, i) => ({
    ...s,
    rooms: mode === 'plain' ? [PLAIN_ROOM] : s.rooms,
    i,
    ws: null,
    sio: null,
    last: new Map(),
    target: new Map(),
    missing: new Set(),
    late: 0,
    dups: 0,
    caughtUpAt: 0,
    reconnectedAt: 0,
    attempts: 0,
    reconnecting: false,
    closedAt: 0,
    welcomeAt: 0,
    subscribedAt: 0,
  }));
  expected = new Map();
  for (const c of clients) for (const r of c.rooms) expected.set(r, (expected.get(r) ?? 0) + 1);
  const t0 = now();
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= clients.length) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await open(clients[i], false);
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

// ---- drop and resume --------------------------------------------------------

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 1000;

/** Set while a drop is held open until the coordinator sends `release` (tests). */
let held: Promise<void> | null = null;
let release: () => void = () => {};

async function reconnect(c: Client): Promise<void> {
  // The outage: nothing gets through until it ends (measured from the drop), or until released.
  const outageLeft = dropAt + outageMs - now();
  if (outageLeft > 0) await new Promise((r) => setTimeout(r, outageLeft));
  if (held) await held;
  for (;;) {
    // Full jitter: uniform in [0, min(cap, base·2^attempt)).
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** c.attempts);
    c.attempts++;
    await new Promise((r) => setTimeout(r, delay));
    try {
      await open(c, true);
      c.reconnecting = false;
      c.reconnectedAt = now();
      // Nothing to replay in the plain server and the baseline: live again from now.
      if (mode !== 'herald' && !c.caughtUpAt) c.caughtUpAt = c.reconnectedAt;
      return;
    } catch {
      // refused (429) or closed before ready: back off and try again
    }
  }
}

function dropAll(): void {
  loopDelay.reset();
  dropAt = now();
  for (const c of clients) {
    c.caughtUpAt = 0;
    c.reconnectedAt = 0;
    c.closedAt = 0;
    c.attempts = 0;
    c.target.clear();
  }
  for (const c of clients) {
    if (c.ws) c.ws.terminate();
    else if (c.sio) {
      // Cut the TCP connection under socket.io-client, as a network drop does.
      const transport = (c.sio.io as unknown as { engine?: { transport?: { ws?: WebSocket } } }).engine
        ?.transport;
      if (transport?.ws) transport.ws.terminate();
      else c.sio.disconnect();
    }
  }
}

function q(xs: number[]) {
  const s = xs.filter((x) => x > 0).sort((a, b) => a - b);
  if (!s.length) return null;
  const r = (x: number) => Math.round(x - dropAt);
  return { p50: r(s[Math.floor(s.length / 2)]), max: r(s[s.length - 1]) };
}

/** Loss and catch-up per client, against the final head of each room (from the senders' 201s). */
function dropReport(heads: Record<string, number>) {
  const lostPer = clients
    .map((c) => {
      let lost = c.missing.size;
      for (const r of c.rooms) {
        const head = heads[r];
        if (head !== undefined) lost += Math.max(0, head - (c.last.get(r) ?? 0));
      }
      return lost;
    })
    .sort((a, b) => a - b);
  const up = clients
    .map((c) => (c.caughtUpAt ? c.caughtUpAt - dropAt : Number.POSITIVE_INFINITY))
    .sort((a, b) => a - b);
  return {
    clients: clients.length,
    lostClients: lostPer.filter((x) => x > 0).length,
    medianLost: lostPer[Math.floor(lostPer.length / 2)],
    maxLost: lostPer[lostPer.length - 1],
    totalLost: lostPer.reduce((a, b) => a + b, 0),
    dups: clients.reduce((a, c) => a + c.dups, 0),
    late: clients.reduce((a, c) => a + c.late, 0),
    behind: clients.filter(
      (c) => c.missing.size > 0 || c.rooms.some((r) => (c.last.get(r) ?? 0) < (heads[r] ?? 0)),
    ).length,
    reconnected: clients.filter((c) => c.reconnectedAt > 0).length,
    caughtUpMaxMs: up[up.length - 1],
    caughtUpP50Ms: up[Math.floor(up.length / 2)],
    attemptsMax: Math.max(...clients.map((c) => c.attempts)),
    timeline: {
      closed: q(clients.map((c) => c.closedAt)),
      welcome: q(clients.map((c) => c.welcomeAt)),
      subscribed: q(clients.map((c) => c.subscribedAt)),
      caughtUp: q(clients.map((c) => c.caughtUpAt)),
    },
    loadgenLoopDelayMaxMs: Math.round(loopDelay.max / 1e6),
  };
}

function closeAll(): void {
  for (const c of clients) {
    c.ws?.terminate();
    c.sio?.disconnect();
  }
  clients = [];
  seen.clear();
  expected.clear();
  resuming = false;
  dropAt = 0;
  otherFrames = 0;
  otherBytes = 0;
}

process.on('message', async (m: { cmd: string } & Record<string, unknown>) => {
  try {
    switch (m.cmd) {
      case 'connect': {
        closeAll();
        mode = m.mode as Mode;
        resuming = Boolean(m.resume);
        const ms = await connectAll(m.clients as ClientSpec[], (m.concurrency as number | undefined) ?? 100);
        send({ type: 'connected', ms });
        return;
      }
      case 'stats': {
        const open = clients.filter((c) => c.ws?.readyState === WebSocket.OPEN || c.sio?.connected).length;
        const late = clients.reduce((a, c) => a + c.late, 0);
        const dups = clients.reduce((a, c) => a + c.dups, 0);
        send({ type: 'stats', otherFrames, otherBytes, open, late, dups });
        return;
      }
      case 'drop':
        outageMs = (m.outageMs as number | undefined) ?? 0;
        if (m.hold) held = new Promise<void>((r) => (release = r));
        dropAll();
        send({ type: 'dropped' });
        return;
      case 'release':
        held = null;
        release();
        send({ type: 'released' });
        return;
      case 'drop-report':
        send({ type: 'drop-report', report: dropReport(m.heads as Record<string, number>) });
        return;
      case 'close':
        closeAll();
        send({ type: 'closed' });
        return;
      case 'exit':
        process.exit(0);
    }
  } catch (err) {
    send({ type: 'error', message: (err as Error).message });
  }
});
send({ type: 'up' });
