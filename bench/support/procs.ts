// Process plumbing of the socket benchmarks: forking the bench's own
// TypeScript children (load generator, baseline servers, plain `ws` server),
// the load generator's IPC client, and /proc readings of CPU time and RSS.
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, CLOCK_MONOTONIC
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU time (user + system) of a process in ms, from /proc (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state field
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** Resident set size of a process in bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Forks a TypeScript file of bench/ (path relative to bench/support). */
export function forkTs(file: string, env: Record<string, string> = {}): ChildProcess {
  return fork(join(here, file), [], {
    env: { ...process.env, ...env },
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_PROF && file === 'loadgen.ts' ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Waits for a forked child's {type:'listening', port} report. */
export function listening(proc: ChildProcess, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve(m.port));
    proc.once('exit', (code) => reject(new Error(`${what} exited ${code}`)));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProc(proc: ChildProcess, graceMs = 5000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const killer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(killer);
}

// ---- the load generator -------------------------------------------------------

type Msg = { type: string } & Record<string, unknown>;
/** When the first and the last client of a room received one event (ms, monotonic). */
export interface Received {
  first: number;
  last: number;
}

export class LoadGen {
  private readonly proc: ChildProcess;
  private waiters: ((m: Msg) => boolean)[] = [];
  private readonly all = new Map<string, Received>();
  private readonly allWaiters = new Map<string, (v: Received) => void>();

  private constructor() {
    this.proc = forkTs('loadgen.ts');
    this.proc.on('message', (m: Msg) => {
      if (m.type === 'all') {
        const v = { first: m.first as number, last: m.last as number };
        const key = m.key as string;
        const w = this.allWaiters.get(key);
        if (w) {
          this.allWaiters.delete(key);
          w(v);
        } else this.all.set(key, v);
        return;
      }
      this.waiters = this.waiters.filter((w) => !w(m));
    });
  }

  static async start(): Promise<LoadGen> {
    const lg = new LoadGen();
    await lg.next('up');
    return lg;
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  private next(type: string, timeoutMs = 600_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`loadgen: no ${type} in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        if (m.type === 'error') {
          clearTimeout(t);
          reject(new Error(`loadgen: ${m.message}`));
          return true;
        }
        if (m.type !== type) return false;
        clearTimeout(t);
        resolve(m);
        return true;
      });
    });
  }

  async request(cmd: Record<string, unknown>, reply: string, timeoutMs?: number): Promise<Msg> {
    const p = this.next(reply, timeoutMs);
    this.proc.send(cmd);
    return p;
  }

  /** Resolves when every client of `room` received its event `seq` (first/last receive times). */
  waitAll(room: string, seq: number, timeoutMs = 60_000): Promise<Received> {
    const key = `${room}|${seq}`;
    const got = this.all.get(key);
    if (got) {
      this.all.delete(key);
      return Promise.resolve(got);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.allWaiters.delete(key);
        reject(new Error(`${room} seq ${seq} did not reach every client in ${timeoutMs} ms`));
      }, timeoutMs);
      this.allWaiters.set(key, (v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  }

  /** Forgets completions nobody waited for, and stops waiting for the rest. */
  clearAll(): void {
    this.all.clear();
    this.allWaiters.clear();
  }

  async exit(): Promise<void> {
    this.proc.send({ cmd: 'exit' });
    await new Promise((r) => this.proc.once('exit', r));
  }
}
