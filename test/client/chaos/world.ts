// The real parts of a chaos run: a PostgreSQL database of its own, a
// `herald serve` process on it (restartable: same database, same secrets),
// and the tenant-backend calls the run needs (tenant, users, tokens,
// conversations) made straight to the node, never through the proxy.
import { randomBytes } from 'node:crypto';
import type { InboxEntry, Message } from '../../../src/protocol/model.ts';
import { type NodeProcess, startNode } from '../../support/cluster.ts';
import { createTestDatabase } from '../../support/stores.ts';

export interface NodeHandle {
  /** The node running now (a restart replaces it). */
  readonly node: NodeProcess;
  /** The operator's token (POST /v1/tenants). */
  readonly adminToken: string;
  /** The run's database (checks of what is stored, straight to PostgreSQL). */
  readonly dbUrl: string;
  /** Nodes that exited without being told to (their output, for the report). */
  readonly crashed: string[];
  /** Stops the node (SIGKILL, or SIGTERM: drain) and starts a new one on the same database. */
  restart(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  close(): Promise<void>;
}

export async function startWorld(extraEnv: Record<string, string>): Promise<NodeHandle> {
  const db = await createTestDatabase();
  const env = {
    DATABASE_URL: db.url,
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    HERALD_ADMIN_TOKEN: randomBytes(16).toString('hex'),
    HERALD_DEMO: 'false',
    HERALD_DEV_TOKENS: 'false',
    ...extraEnv,
  };
  const crashed: string[] = [];
  let stopping = false;
  const watch = (n: NodeProcess) => {
    n.proc.once('exit', (code, signal) => {
      if (!stopping)
        crashed.push(`node on :${n.port} exited (${code ?? signal}):\n${n.output().slice(-4000)}`);
    });
    return n;
  };
  let node: NodeProcess;
  try {
    node = watch(await startNode(env));
  } catch (err) {
    await db.drop();
    throw err;
  }
  const handle: NodeHandle = {
    get node() {
      return node;
    },
    adminToken: env.HERALD_ADMIN_TOKEN,
    dbUrl: db.url,
    crashed,
    async restart(signal) {
      stopping = true;
      await node.kill(signal);
      stopping = false;
      // Another port: nothing else can take it between the stop and the start.
      node = watch(await startNode(env));
    },
    async close() {
      stopping = true;
      await node.kill('SIGKILL');
      await db.drop();
    },
  };
  return handle;
}

/** A JSON call straight to the node (tenant backend, checks). */
export async function call<T>(
  base: string,
  method: string,
  path: string,
  auth: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** Every message of a conversation, ascending by seq (keyset pages). */
export async function history(base: string, token: string, conversation: string): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const after = out.at(-1)?.seq ?? 0;
    const page = await call<{ messages: Message[]; has_more: boolean }>(
      base,
      'GET',
      `/v1/conversations/${conversation}/messages?after_seq=${after}&limit=200`,
      token,
    );
    out.push(...page.messages);
    if (!page.has_more || page.messages.length === 0) return out;
  }
}

/** The user's inbox, every entry (the plain list; two conversations fit one page). */
export async function inbox(base: string, token: string): Promise<Map<string, InboxEntry>> {
  const page = await call<{ entries: InboxEntry[] }>(base, 'GET', '/v1/inbox?limit=200', token);
  return new Map(page.entries.map((e) => [e.conversation_id, e]));
}
