// What the side-by-side scenarios share (scenarios/index.ts says how a run goes): the options,
// the worlds' provisioning per system (kept across scenarios, dropped at the end), the
// interleaved runner, connecting and warming up clients, the closed-loop sender, the note on
// failed runs.
import { cpuMs, LoadGen, now, rssBytes } from '../support/procs.ts';
import {
  type Deployment,
  prepareAll,
  type Running,
  SYSTEM_NAMES,
  type SystemKey,
  type World,
} from '../support/systems.ts';

export interface Options {
  quick: boolean;
  runs: number;
  /** Where charts go (docs/bench for full runs). */
  svgDir: string;
  log: (line: string) => void;
}

export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
export const channel = (n: number): World => ({ users: n, rooms: [{ kind: 'channel', members: range(n) }] });
export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
export const cpuOf = (pids: number[]) => sum(pids.map(cpuMs));
export const rssOf = (pids: number[]) => sum(pids.map(rssBytes));

export type Results<R> = Map<SystemKey, { runs: R[]; errors: string[] }>;

// Provisioned worlds, kept for the whole invocation: several scenarios use the same channel
// (1,000 or 10,000 members), and minting 10,000 tokens is minutes of set-up, not of measuring.
// Messages left by one scenario do not matter to the next: each tracks its own seqs.
const provisioned = new Map<string, Map<SystemKey, Deployment>>();

export async function deploymentsFor(keys: SystemKey[], world: World, o: Options): Promise<Deployment[]> {
  const id = JSON.stringify(world);
  const have = provisioned.get(id) ?? new Map<SystemKey, Deployment>();
  provisioned.set(id, have);
  const missing = keys.filter((k) => !have.has(k));
  if (missing.length) for (const d of await prepareAll(missing, world, o.log)) have.set(d.key, d);
  return keys.map((k) => have.get(k) as Deployment);
}

/** Drops every database the scenarios provisioned. */
export async function dropProvisioned(): Promise<void> {
  for (const m of provisioned.values()) for (const d of m.values()) await d.drop();
  provisioned.clear();
}

/** Provisions `world` on each system, then runs `one` for every system in turn, `runs` times. */
export async function interleaved<R>(
  keys: SystemKey[],
  world: World,
  o: Options,
  label: string,
  one: (sys: Running, lg: LoadGen) => Promise<R>,
): Promise<Results<R>> {
  const deployments = await deploymentsFor(keys, world, o);
  const out: Results<R> = new Map(keys.map((k) => [k, { runs: [], errors: [] }]));
  const lg = await LoadGen.start();
  try {
    for (let r = 0; r < o.runs; r++) {
      for (const d of deployments) {
        const slot = out.get(d.key) as { runs: R[]; errors: string[] };
        let sys: Running | null = null;
        try {
          sys = await d.start();
          const res = await one(sys, lg);
          slot.runs.push(res);
          o.log(`${label} run ${r + 1} ${d.name}: ${JSON.stringify(res)}`);
        } catch (err) {
          // One system failing a run is a finding, not a reason to lose the others' figures.
          slot.errors.push((err as Error).message);
          o.log(`${label} run ${r + 1} ${d.name}: FAILED ${(err as Error).message}`);
        } finally {
          await lg.request({ cmd: 'close' }, 'closed');
          lg.clearAll();
          await sys?.stop();
        }
      }
    }
  } finally {
    await lg.exit();
  }
  return out;
}

export async function connect(lg: LoadGen, sys: Running, users: number[], resume = false): Promise<number> {
  const m = await lg.request(
    { cmd: 'connect', mode: sys.mode, clients: sys.clients(users), resume },
    'connected',
  );
  return m.ms as number;
}

/** Sends `count` messages one after the other and waits for each to reach every member. */
export async function warmUp(sys: Running, lg: LoadGen, room: number, from: number | 'admin', count: number) {
  for (let k = 0; k < count; k++) await lg.waitAll(sys.roomKey(room), await sys.send(room, from, k), 30_000);
}

export function failedNote<R>(res: Results<R>): string {
  const lines: string[] = [];
  for (const [k, v] of res)
    if (v.errors.length) lines.push(`- ${SYSTEM_NAMES[k]}: ${v.errors.length} failed run(s): ${v.errors[0]}`);
  return lines.length ? `\n${lines.join('\n')}\n` : '';
}

// ---- 1. fan-out latency ---------------------------------------------------------------

/**
 * Closed loop: `concurrency` senders, each sending as soon as its previous send was answered,
 * for `ms`; send i goes to rooms[i % rooms.length], from the room's members in turn. `sent`
 * hears each answered send (its seq, the HTTP time, when the answer came), `failed` each
 * refused one. Resolves with the elapsed ms.
 */
export async function closedLoop(
  sys: Running,
  world: World,
  rooms: number[],
  concurrency: number,
  ms: number,
  on: { sent(room: number, seq: number, httpMs: number, answeredAt: number): void; failed(): void },
): Promise<number> {
  let k = 0;
  const t0 = now();
  const stopAt = t0 + ms;
  await Promise.all(
    range(concurrency).map(async () => {
      while (now() < stopAt) {
        const i = k++;
        const room = rooms[i % rooms.length];
        const members = world.rooms[room].members;
        const from = members[Math.floor(i / rooms.length) % members.length];
        const ts = now();
        let seq: number;
        try {
          seq = await sys.send(room, from, i);
        } catch {
          on.failed();
          continue;
        }
        const answeredAt = now();
        on.sent(room, seq, answeredAt - ts, answeredAt);
      }
    }),
  );
  return now() - t0;
}
