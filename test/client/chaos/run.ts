// One chaos run of the SDK against a real node (issue 13): a `herald serve`
// process on a PostgreSQL database of its own, four SDK clients (alice on two
// devices, bob, carol) in a direct and a group conversation, every byte
// between them going through the seeded ChaosProxy. While faults are on the
// clients send (optimistically), read, type, change what they view, close and
// reopen a conversation and now and then go offline; the node is restarted
// once (SIGKILL or SIGTERM) in the middle. Then the faults stop and the run waits, with a bound, until every
// client has converged on the server's state — or reports what differs.
//
// The seed fixes the fault profile, each connection's fault plan (by its
// index), the operations and their spacing, the restart and the SDK's
// jitter. Real sockets and a real process decide the timing, so a rerun
// replays the same plan but not necessarily the same interleaving.
import WebSocket from 'ws';
import type { FetchLike } from '../../../src/client/http.ts';
import { HeraldClient } from '../../../src/client/index.ts';
import type { OutgoingMessage } from '../../../src/client/outbox.ts';
import { Rng } from '../../sim/prng.ts';
import { type ChaosWorld, converge, type Device, storedCounterDrift, type TrackedSend } from './checks.ts';
import { ChaosProxy, type FaultProfile } from './proxy.ts';
import { call, startWorld } from './world.ts';

export interface ChaosOptions {
  seed: number;
  /** The faulty phase (default 10 s). */
  durationMs?: number;
  /** The bound on convergence once faults are off (default 45 s). */
  settleMs?: number;
  /** Overrides of the drawn fault profile, e.g. { blackhole: 0.5 } to focus on one fault. */
  faults?: Partial<FaultProfile>;
  /** Called with a line per operation, fault and state change (the CLI's --trace). */
  trace?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  failures: string[];
  /** From faults off to converged (or to giving up). */
  settleMs: number;
  /** The plan and what happened: for the report of a failing seed, and the CLI's totals. */
  summary: string;
  ms: number;
}

/** How to run one seed again, for failure messages. */
export function rerunCommand(seed: number): string {
  return `node --import tsx test/client/chaos/cli.ts --seed ${seed} --trace`;
}

/** A failing seed: what it planned, what happened, what differed, and how to run it again. */
export function failureReport(r: ChaosResult): string {
  return [
    `FAIL seed ${r.seed} (${(r.ms / 1000).toFixed(1)} s)`,
    r.summary,
    ...r.failures.map((f) => `  - ${f}`),
    `  rerun: ${rerunCommand(r.seed)}`,
  ].join('\n');
}

interface Plan {
  faults: FaultProfile;
  restartAtMs: number;
  restartSignal: 'SIGKILL' | 'SIGTERM';
  outages: { atMs: number; ms: number }[];
  /** Short-lived tokens (renewed several times during the run), or the default 15 min. */
  tokenTtlSec: number;
  opGapMs: [number, number];
}

/** Every fault is on in every run; the seed picks how hard. */
function drawPlan(rng: Rng, durationMs: number): Plan {
  const rate = (lo: number, hi: number) => lo + rng.next() * (hi - lo);
  return {
    faults: {
      refuse: rate(0.05, 0.3),
      killByBytes: rate(0.2, 0.7),
      killBytes: [1, 1 + rng.int(40_000)],
      killByTime: rate(0.2, 0.6),
      killAfterMs: [100, 500 + rng.int(4000)],
      blackhole: rate(0.05, 0.2),
      blackholeAtChunk: [1, 15],
      resetShare: rate(0.3, 0.8),
      stall: rate(0.005, 0.05),
      stallMs: [50, 500 + rng.int(3000)],
      split: rate(0.2, 0.9),
      pieceGapMs: rng.int(15),
    },
    restartAtMs: Math.floor(durationMs * rate(0.3, 0.6)),
    restartSignal: rng.chance(0.5) ? 'SIGKILL' : 'SIGTERM',
    outages: Array.from({ length: rng.int(3) }, () => ({
      atMs: rng.int(durationMs),
      ms: 200 + rng.int(1500),
    })),
    tokenTtlSec: rng.chance(0.5) ? 20 : 900,
    opGapMs: [10, 60 + rng.int(200)],
  };
}

const USERS = ['alice', 'bob', 'carol'] as const;
const DEVICES: { name: string; user: (typeof USERS)[number] }[] = [
  { name: 'alice-1', user: 'alice' },
  { name: 'alice-2', user: 'alice' },
  { name: 'bob-1', user: 'bob' },
  { name: 'carol-1', user: 'carol' },
];

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const durationMs = opts.durationMs ?? 10_000;
  const rng = new Rng(opts.seed);
  const plan = drawPlan(rng, durationMs);
  plan.faults = { ...plan.faults, ...opts.faults };
  const trace = opts.trace ?? (() => {});
  const at = () => `${String(Date.now() - started).padStart(6)}ms`;
  const log = (line: string) => trace(`${at()} ${line}`);
  const failures: string[] = [];

  const world = await startWorld({
    HERALD_ACCESS_TTL_SEC: String(plan.tokenTtlSec),
    // A drain that fits the run; the node exits as soon as its clients have left.
    HERALD_DRAIN_GRACE_MS: '2000',
    // Server pings often enough that a stalled socket is closed IDLE_TIMEOUT within the run.
    HERALD_PING_INTERVAL_MS: '3000',
    // Every client comes through one proxy, so from one IP (docs: raise behind a proxy or NAT).
    // The per-user handshake limit stays at its default.
    HERALD_HANDSHAKES_PER_IP_PER_SEC: '200',
    HERALD_HANDSHAKE_BURST_PER_IP: '400',
  });
  const proxy = await ChaosProxy.start(opts.seed, world.node.port, plan.faults);
  const devices: Device[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  let restart: Promise<void> = Promise.resolve();
  // The SDK's HTTP calls, watched: how long they take, and which never end.
  const inFlight = new Map<number, { what: string; since: number }>();
  let requests = 0;
  const watched =
    (device: string): FetchLike =>
    async (input, init) => {
      const id = ++requests;
      const what = `${device}: ${init.method ?? 'GET'} ${new URL(input).pathname}`;
      inFlight.set(id, { what, since: Date.now() });
      try {
        return await fetch(input, init);
      } finally {
        inFlight.delete(id);
      }
    };
  const outages: Promise<void>[] = [];
  try {
    // The tenant backend: straight to the node.
    const base = () => world.node.url;
    const { api_key } = await call<{ api_key: string }>(base(), 'POST', '/v1/tenants', world.adminToken, {});
    const mint = async (user: string) =>
      (await call<{ access_token: string }>(base(), 'POST', '/v1/tokens', api_key, { user_id: user }))
        .access_token;
    const setupTokens = Object.fromEntries(await Promise.all(USERS.map(async (u) => [u, await mint(u)])));
    type Conv = { conversation: { id: string } };
    const direct = (await call<Conv>(base(), 'PUT', '/v1/direct/bob', setupTokens.alice)).conversation.id;
    const group = (
      await call<Conv>(base(), 'POST', '/v1/conversations', setupTokens.alice, {
        kind: 'group',
        title: 'chaos',
        members: ['bob', 'carol'],
      })
    ).conversation.id;
    const convName = (id: string) => (id === direct ? 'direct' : id === group ? 'group' : id);
    const membersOf: Record<string, string[]> = {
      [direct]: ['alice', 'bob'],
      [group]: ['alice', 'bob', 'carol'],
    };

    const cw: ChaosWorld = {
      base,
      mint,
      devices,
      sends: new Map(),
      maxRead: new Map(),
      conversations: [direct, group],
      convName,
    };

    for (const d of DEVICES) {
      const jitter = new Rng(opts.seed * 31 + devices.length + 1);
      const client = new HeraldClient({
        url: proxy.url,
        token: setupTokens[d.user],
        getToken: () => mint(d.user),
        deviceId: d.name,
        WebSocket,
        fetch: watched(d.name),
        random: () => jitter.next(),
        backoff: { baseMs: 100, maxMs: 2000 },
        connectTimeoutMs: 3000,
        requestTimeoutMs: 5000,
        pingIntervalMs: 2000,
      });
      const device: Device = {
        name: d.name,
        user: d.user,
        client,
        conversations: Object.keys(membersOf).filter((c) => membersOf[c].includes(d.user)),
        errors: new Map(),
        closes: new Map(),
        offline: false,
      };
      client.on('state', (s) => {
        if (s.to === 'reconnecting' || s.to === 'disconnected') {
          const code = s.closeCode ?? -1;
          device.closes.set(code, (device.closes.get(code) ?? 0) + 1);
        }
        log(`${d.name} ${s.from} → ${s.to}${s.closeCode ? ` (${s.closeCode} ${s.closeReason ?? ''})` : ''}`);
      });
      client.on('error', (e) => {
        device.errors.set(e.code, (device.errors.get(e.code) ?? 0) + 1);
        log(`${d.name} error ${e.code}${e.ref ? ` ref ${e.ref}` : ''}: ${e.message}`);
      });
      for (const c of device.conversations) client.open(c, { sinceSeq: 0 });
      devices.push(device);
      client.connect();
    }

    // ---- the faulty phase ---------------------------------------------------------
    const track = (device: Device, t: TrackedSend, out: OutgoingMessage) => {
      t.out = out;
      out.done.then(
        (m) => log(`${device.name} sent ${t.body} → ${convName(t.conversation)} seq ${m.seq}`),
        (e) => {
          // disconnect() fails what is pending; the app sends it again with the same client_id.
          if (e.code === 'DISCONNECTED') return;
          failures.push(`${device.name}: send ${t.body} to ${convName(t.conversation)} failed: ${e.code}`);
        },
      );
    };
    let sendNo = 0;
    const op = (device: Device) => {
      const { client } = device;
      const conversation = rng.pick(device.conversations);
      switch (rng.weighted([4, 3, 3, 1, 0.15, 0.3])) {
        case 0: {
          const body = `${device.name}#${++sendNo}`;
          const others = membersOf[conversation].filter((u) => u !== device.user);
          const mentions = rng.chance(0.3) ? [rng.pick(others)] : undefined;
          const out = client.send(conversation, body, mentions ? { mentions } : {});
          const t: TrackedSend = { device, conversation, body, mentions, out, attempts: 1 };
          cw.sends.set(out.client_id, t);
          track(device, t, out);
          log(`${device.name} send ${body} → ${convName(conversation)}${mentions ? ` @${mentions}` : ''}`);
          return;
        }
        case 1: {
          const seq = client.subscription(conversation)?.lastSeq ?? 0;
          if (seq <= 0) return;
          client.read(conversation, seq);
          const key = `${device.user}/${conversation}`;
          cw.maxRead.set(key, Math.max(cw.maxRead.get(key) ?? 0, seq));
          log(`${device.name} read ${convName(conversation)} ${seq}`);
          return;
        }
        case 2:
          client.typing(conversation);
          return;
        case 3: {
          const v = rng.chance(0.6) ? conversation : null;
          client.view(v);
          log(`${device.name} view ${v ? convName(v) : 'none'}`);
          return;
        }
        case 5: {
          // Away from the conversation and back: a new subscription, from the start again.
          client.subscription(conversation)?.close();
          client.open(conversation, { sinceSeq: 0 });
          log(`${device.name} reopen ${convName(conversation)}`);
          return;
        }
        default: {
          if (device.offline) return;
          device.offline = true;
          client.disconnect();
          // The app resends what the disconnect failed, with the same client_id.
          for (const [id, t] of cw.sends) {
            if (t.device !== device || t.out.status !== 'failed') continue;
            t.attempts++;
            track(
              device,
              t,
              client.send(t.conversation, t.body, {
                client_id: id,
                ...(t.mentions ? { mentions: t.mentions } : {}),
              }),
            );
          }
          const away = 300 + rng.int(1500);
          log(`${device.name} offline for ${away} ms`);
          later(away, () => {
            device.offline = false;
            client.connect();
          });
        }
      }
    };

    later(plan.restartAtMs, () => {
      log(`restart node (${plan.restartSignal})`);
      restart = world.restart(plan.restartSignal).then(() => {
        proxy.retarget(world.node.port);
        log(`node back on :${world.node.port}`);
      });
    });
    for (const o of plan.outages) {
      later(o.atMs, () => {
        log(`proxy outage ${o.ms} ms`);
        outages.push(proxy.outage(o.ms));
      });
    }
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      op(rng.pick(devices));
      const [lo, hi] = plan.opGapMs;
      await new Promise((r) => setTimeout(r, lo + rng.int(hi - lo + 1)));
    }

    // ---- quiesce and check --------------------------------------------------------
    log('faults off');
    await restart;
    await Promise.all(outages);
    proxy.calm();
    // Devices still offline come back now (their timers would, a little later).
    for (const d of devices) {
      if (!d.offline) continue;
      d.offline = false;
      d.client.connect();
    }
    const settled = await converge(cw, opts.settleMs ?? 45_000);
    log(`converged in ${settled.ms} ms`);
    failures.push(...settled.diffs);
    failures.push(...(await storedCounterDrift(world.dbUrl, convName)));
    // Converged or not, a request of the SDK that never ends wedges whatever waits on it: give
    // each call still open up to HUNG_MS, then report it.
    const young = () => [...inFlight.values()].some((r) => Date.now() - r.since <= HUNG_MS);
    while (young()) await new Promise((r) => setTimeout(r, 200));
    for (const r of inFlight.values())
      if (Date.now() - r.since > HUNG_MS)
        failures.push(`${r.what} has been waiting for an answer for ${Date.now() - r.since} ms`);
    failures.push(...world.crashed);
    for (const d of devices) {
      for (const code of d.errors.keys())
        if (!EXPECTED_ERRORS.has(code))
          failures.push(`${d.name}: unexpected error ${code} (${d.errors.get(code)}×)`);
    }
    return {
      seed: opts.seed,
      failures,
      settleMs: settled.ms,
      summary: summarize(plan, proxy, cw),
      ms: Date.now() - started,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const d of devices) d.client.disconnect();
    await restart.catch(() => {});
    await Promise.all(outages).catch(() => {});
    await proxy.close();
    await world.close();
  }
}

/** An HTTP call of the SDK still unanswered after this long is hung (the node answers in ms). */
const HUNG_MS = 30_000;

/**
 * Errors a client may report while the network and the node misbehave: each is retried by the SDK.
 * Anything else (INTERNAL, BAD_REQUEST for an unparseable frame, VALIDATION_FAILED…) is a defect.
 */
const EXPECTED_ERRORS: ReadonlySet<string> = new Set([
  'NETWORK_ERROR',
  'STORE_UNAVAILABLE',
  'NOT_READY',
  'RATE_LIMITED',
  'TOKEN_REFRESH_FAILED',
  // Short-lived tokens can expire while the node is down (getToken fails, the renewal waits): the
  // gateway refuses or closes that session with TOKEN_EXPIRED and the SDK refreshes and redials.
  'TOKEN_EXPIRED',
  'TOO_MANY_CONNECTIONS',
]);

function summarize(plan: Plan, proxy: ChaosProxy, w: ChaosWorld): string {
  const round = (v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v);
  const perDevice = w.devices.map((d) => {
    const closes = [...d.closes].map(([c, n]) => `${c}×${n}`).join(' ');
    const errors = [...d.errors].map(([c, n]) => `${c}×${n}`).join(' ');
    return `    ${d.name}: closes ${closes || '-'}; errors ${errors || '-'}`;
  });
  return [
    `  plan: ${JSON.stringify({ ...plan, faults: undefined }, (_, v) => round(v))}`,
    `  faults: ${JSON.stringify(plan.faults, (_, v) => round(v))}`,
    `  proxy: ${JSON.stringify(proxy.stats)}`,
    `  sends: ${w.sends.size} (${[...w.sends.values()].filter((s) => s.attempts > 1).length} sent again after a disconnect)`,
    ...perDevice,
  ].join('\n');
}
