// Child processes of the socket benchmarks: a Herald node (`herald serve`
// on a fresh PostgreSQL database), the plain `ws` baseline server and the
// load generator; plus /proc readings of a process's CPU time and RSS.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NodeProcess, startNode } from '../../test/support/cluster.ts';
import { createTestDatabase } from '../../test/support/stores.ts';

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

function forkTs(file: string, args: string[] = []): ChildProcess {
  return fork(join(here, file), args, {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_PROF && file === 'loadgen.ts' ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export interface Target {
  name: string;
  pid: number;
  wsUrl: string;
  mode: 'herald' | 'plain';
  /** Sends one message; resolves with its seq. */
  send(i: number, opts?: { once?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

// ---- the load generator -------------------------------------------------------

type Msg = { type: string } & Record<string, unknown>;

export class LoadGen {
  private readonly proc: ChildProcess;
  private waiters: ((m: Msg) => boolean)[] = [];
  private readonly all = new Map<number, { first: number; last: number }>();
  private readonly allWaiters = new Map<number, (v: { first: number; last: number }) => void>();

  private constructor() {
    this.proc = forkTs('loadgen.ts');
    this.proc.on('message', (m: Msg) => {
      if (m.type === 'all') {
        const v = { first: m.first as number, last: m.last as number };
        const w = this.allWaiters.get(m.seq as number);
        if (w) {
          this.allWaiters.delete(m.seq as number);
          w(v);
        } else this.all.set(m.seq as number, v);
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

  /** Resolves when every client received the event with this seq (first/last receive times). */
  waitAll(seq: number, timeoutMs = 60_000): Promise<{ first: number; last: number }> {
    const got = this.all.get(seq);
    if (got) {
      this.all.delete(seq);
      return Promise.resolve(got);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.allWaiters.delete(seq);
        reject(new Error(`seq ${seq} did not reach every client in ${timeoutMs} ms`));
      }, timeoutMs);
      this.allWaiters.set(seq, (v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  }

  clearAll(): void {
    this.all.clear();
  }

  async exit(): Promise<void> {
    this.proc.send({ cmd: 'exit' });
    await new Promise((r) => this.proc.once('exit', r));
  }
}

// ---- the plain ws baseline ------------------------------------------------------

export async function startPlain(): Promise<Target> {
  const proc = forkTs('plain-ws-server.ts');
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('message', (m: Msg) => resolve(m.port as number));
    proc.once('exit', (code) => reject(new Error(`plain ws server exited ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    name: 'plain ws',
    pid: proc.pid as number,
    wsUrl: `ws://127.0.0.1:${port}/`,
    mode: 'plain',
    async send(i, opts) {
      const res = await fetch(`${base}/send${opts?.once ? '?once=1' : ''}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ body: `bench message ${i}`, client_id: `b-${i}` }),
      });
      if (res.status !== 201) throw new Error(`baseline send: ${res.status}`);
      return ((await res.json()) as { message: { seq: number } }).message.seq;
    },
    async stop() {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    },
  };
}

// ---- Herald -------------------------------------------------------------------

export interface Provisioned {
  databaseUrl: string;
  env: Record<string, string>;
  conversation: string;
  senderToken: string;
  /** One access token per receiving user (u00000…). */
  tokens: string[];
  setupMs: number;
  drop(): Promise<void>;
}

async function call<T>(
  base: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/**
 * A fresh PostgreSQL database, a tenant, `users` users with access tokens and
 * one channel holding all of them plus `sender` (its admin), all through the
 * HTTP API of a node that is stopped afterwards.
 */
export async function provision(users: number): Promise<Provisioned> {
  const t0 = now();
  const db = await createTestDatabase();
  const env = {
    DATABASE_URL: db.url,
    HERALD_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    HERALD_DEMO: 'false',
    HERALD_DEV_TOKENS: 'false',
    HERALD_ACCESS_TTL_SEC: '7200',
    HERALD_SEND_RATE_MAX: '1000000',
    HERALD_API_KEY_RATE_MAX: '1000000',
  };
  const node = await startNode(env);
  try {
    const base = node.url;
    const { api_key } = await call<{ api_key: string }>(base, 'POST', '/v1/tenants', env.HERALD_ADMIN_TOKEN, {
      tenant_id: 'bench',
    });
    const mint = async (user: string) =>
      (await call<{ access_token: string }>(base, 'POST', '/v1/tokens', api_key, { user_id: user }))
        .access_token;
    const senderToken = await mint('sender');
    const ids = Array.from({ length: users }, (_, i) => `u${String(i).padStart(5, '0')}`);
    const tokens: string[] = new Array(users);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= users) return;
          tokens[i] = await mint(ids[i]);
        }
      }),
    );
    const { conversation } = await call<{ conversation: { id: string } }>(
      base,
      'POST',
      '/v1/conversations',
      senderToken,
      { kind: 'channel', title: 'bench' },
    );
    for (let i = 0; i < users; i += 1000) {
      await call(base, 'POST', `/v1/conversations/${conversation.id}/members`, senderToken, {
        user_ids: ids.slice(i, i + 1000),
      });
    }
    return {
      databaseUrl: db.url,
      env,
      conversation: conversation.id,
      senderToken,
      tokens,
      setupMs: now() - t0,
      drop: () => db.drop(),
    };
  } finally {
    await node.kill('SIGKILL');
  }
}

/** A `herald serve` child process on the provisioned database (PostgreSQL, in-process bus). */
export async function startHeraldNode(p: Provisioned): Promise<Target & { node: NodeProcess }> {
  const node = await startNode(p.env);
  return {
    name: 'Herald',
    node,
    pid: node.proc.pid as number,
    wsUrl: node.wsUrl,
    mode: 'herald',
    async send(i) {
      const res = await fetch(`${node.url}/v1/conversations/${p.conversation}/messages`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${p.senderToken}`,
          'content-type': 'application/json',
          'idempotency-key': `b-${process.pid}-${now()}-${i}`,
        },
        body: JSON.stringify({ body: `bench message ${i}` }),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`Herald send: ${res.status} ${text.slice(0, 200)}`);
      return (JSON.parse(text) as { message: { seq: number } }).message.seq;
    },
    async stop() {
      const killer = setTimeout(() => node.proc.kill('SIGKILL'), 15_000);
      await node.kill('SIGTERM');
      clearTimeout(killer);
    },
  };
}
