// What a chaos run must end with once faults are off (issue 13): every client
// connected, every timeline equal to the server's history, every send there
// exactly once and confirmed at its seq, nothing pending, every inbox entry
// equal to the server's, every read reflected, no typing indicator left.
// `converge` polls the server (straight to the node) and the clients until
// nothing differs or the bound passes; then it returns what still differs.

import pg from 'pg';
import type { HeraldClient } from '../../../src/client/index.ts';
import type { OutgoingMessage } from '../../../src/client/outbox.ts';
import type { InboxEntry, Message } from '../../../src/protocol/model.ts';
import { counterDrift } from '../../support/invariants.ts';
import { history, inbox } from './world.ts';

export interface Device {
  name: string;
  user: string;
  client: HeraldClient;
  conversations: string[];
  /** Errors the client emitted, by code. */
  errors: Map<string, number>;
  /** Closes (moves to reconnecting/disconnected), by close code (-1: none). */
  closes: Map<number, number>;
  /** disconnect()ed by the workload, connect() pending. */
  offline: boolean;
}

export interface TrackedSend {
  device: Device;
  conversation: string;
  body: string;
  mentions?: string[];
  /** The latest attempt (a send failed by disconnect() is made again with its client_id). */
  out: OutgoingMessage;
  attempts: number;
}

export interface ChaosWorld {
  /** The node's URL now (bypassing the proxy). */
  base(): string;
  mint(user: string): Promise<string>;
  devices: Device[];
  /** By client_id. */
  sends: Map<string, TrackedSend>;
  /** `${user}/${conversation}` → the highest seq any of the user's devices read(). */
  maxRead: Map<string, number>;
  conversations: string[];
  convName(id: string): string;
}

interface ServerState {
  history: Map<string, Message[]>;
  /** user → conversation → entry. */
  inbox: Map<string, Map<string, InboxEntry>>;
}

async function serverState(w: ChaosWorld): Promise<ServerState> {
  const users = [...new Set(w.devices.map((d) => d.user))];
  const tokens = new Map(await Promise.all(users.map(async (u) => [u, await w.mint(u)] as const)));
  // alice is in every conversation of the run.
  const reader = tokens.get('alice') as string;
  const hist = new Map<string, Message[]>();
  for (const c of w.conversations) hist.set(c, await history(w.base(), reader, c));
  const boxes = new Map<string, Map<string, InboxEntry>>();
  for (const [u, t] of tokens) boxes.set(u, await inbox(w.base(), t));
  return { history: hist, inbox: boxes };
}

/**
 * Polls until nothing differs (no differences, and how long that took) or `boundMs` passes (the
 * differences left).
 */
export async function converge(w: ChaosWorld, boundMs: number): Promise<{ diffs: string[]; ms: number }> {
  const start = Date.now();
  const deadline = start + boundMs;
  for (;;) {
    let diffs: string[];
    try {
      diffs = differences(w, await serverState(w));
    } catch (err) {
      diffs = [`reading the server's state failed: ${(err as Error).message}`];
    }
    if (diffs.length === 0) return { diffs, ms: Date.now() - start };
    if (Date.now() > deadline) {
      const shown = diffs.slice(0, 30);
      if (diffs.length > shown.length) shown.push(`… and ${diffs.length - shown.length} more`);
      return { diffs: [`not converged ${boundMs} ms after faults off:`, ...shown], ms: Date.now() - start };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

export function differences(w: ChaosWorld, s: ServerState): string[] {
  const out: string[] = [];
  const name = w.convName;

  // The server's log: each send exactly once, nothing the clients did not send.
  const byClientId = new Map<string, Message>();
  for (const [c, msgs] of s.history) {
    for (let i = 1; i < msgs.length; i++)
      if (msgs[i].seq <= msgs[i - 1].seq) out.push(`${name(c)}: history out of order at seq ${msgs[i].seq}`);
    for (const m of msgs) {
      if (m.sender.type !== 'user') continue;
      const t = m.client_id ? w.sends.get(m.client_id) : undefined;
      if (!t || t.device.user !== m.sender.user_id || t.conversation !== c) {
        out.push(`${name(c)}: message seq ${m.seq} (${m.body}, client_id ${m.client_id}) was never sent`);
        continue;
      }
      if (byClientId.has(m.client_id as string))
        out.push(
          `${name(c)}: ${m.body} committed twice (seq ${byClientId.get(m.client_id as string)?.seq} and ${m.seq})`,
        );
      byClientId.set(m.client_id as string, m);
      if (m.body !== t.body) out.push(`${name(c)}: seq ${m.seq} has body ${m.body}, sent ${t.body}`);
    }
  }
  for (const [id, t] of w.sends) {
    const m = byClientId.get(id);
    const st = t.out.status;
    if (!m) {
      out.push(`${t.device.name}: ${t.body} (${st}) is not in ${name(t.conversation)}'s history`);
      continue;
    }
    if (st !== 'confirmed') out.push(`${t.device.name}: ${t.body} is committed (seq ${m.seq}) but ${st}`);
    else if (t.out.result?.seq !== m.seq || t.out.result?.message_id !== m.id)
      out.push(`${t.device.name}: ${t.body} confirmed as seq ${t.out.result?.seq}, committed as ${m.seq}`);
  }

  for (const d of w.devices) {
    const c = d.client;
    if (c.state !== 'connected') out.push(`${d.name}: ${c.state}`);
    const pending = c.pending();
    if (pending.length)
      out.push(`${d.name}: ${pending.length} pending (${pending.map((p) => p.body).join(', ')})`);
    for (const conv of d.conversations) {
      const hist = s.history.get(conv) ?? [];
      const head = hist.at(-1)?.seq ?? 0;
      const sub = c.subscription(conv);
      if (!sub) {
        out.push(`${d.name}: ${name(conv)} is not open`);
        continue;
      }
      if (sub.status !== 'subscribed') out.push(`${d.name}: ${name(conv)} is ${sub.status}`);
      if (sub.lastSeq !== head)
        out.push(`${d.name}: ${name(conv)} at seq ${sub.lastSeq}, server head ${head}`);
      const diff = timelineDiff(sub.messages(), hist);
      if (diff) out.push(`${d.name}: ${name(conv)} timeline ${diff}`);

      const mine = c.inbox.get(conv);
      const theirs = s.inbox.get(d.user)?.get(conv);
      if (!theirs) out.push(`${d.name}: the server has no inbox entry for ${name(conv)}`);
      else if (!mine) out.push(`${d.name}: no inbox entry for ${name(conv)}`);
      else {
        const fields = entryDiff(mine, theirs);
        if (fields) out.push(`${d.name}: inbox ${name(conv)} ${fields}`);
      }
      const read = w.maxRead.get(`${d.user}/${conv}`) ?? 0;
      if (theirs && theirs.last_read_seq < read)
        out.push(`${d.user}: read ${name(conv)} up to ${read}, the server has ${theirs.last_read_seq}`);
      const typing = c.typingUsers(conv);
      if (typing.length) out.push(`${d.name}: ${name(conv)} still shows ${typing.join(', ')} typing`);
    }
    for (const e of c.inbox.list({ includeArchived: true }))
      if (!d.conversations.includes(e.conversation_id))
        out.push(`${d.name}: inbox holds ${e.conversation_id}, not a conversation of ${d.user}`);
    const total = d.conversations.reduce(
      (n, conv) => n + (s.inbox.get(d.user)?.get(conv)?.unread_count ?? 0),
      0,
    );
    if (c.inbox.totals().unread !== total)
      out.push(`${d.name}: inbox total unread ${c.inbox.totals().unread}, the server's ${total}`);
  }
  return out;
}

/** Where a client's timeline first differs from the history ('' when equal). */
function timelineDiff(mine: Message[], theirs: Message[]): string {
  const n = Math.max(mine.length, theirs.length);
  for (let i = 0; i < n; i++) {
    const a = mine[i];
    const b = theirs[i];
    if (!a || !b) {
      return `holds ${mine.length} messages (last seq ${mine.at(-1)?.seq ?? 0}), the server ${theirs.length} (last seq ${theirs.at(-1)?.seq ?? 0})`;
    }
    const ca = canonical(a);
    const cb = canonical(b);
    if (ca !== cb) return `differs at index ${i}: holds ${ca}, the server ${cb}`;
  }
  return '';
}

/** The fields of an inbox entry that differ from the server's ('' when equal). */
function entryDiff(mine: InboxEntry, theirs: InboxEntry): string {
  const keys = new Set([...Object.keys(mine), ...Object.keys(theirs)]);
  const diff: string[] = [];
  for (const k of keys) {
    const a = (mine as unknown as Record<string, unknown>)[k];
    const b = (theirs as unknown as Record<string, unknown>)[k];
    if (canonical(a) !== canonical(b)) diff.push(`${k} ${canonical(a)} (server ${canonical(b)})`);
  }
  return diff.join(', ');
}

/** JSON with sorted keys, so objects built in different orders compare equal. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

/**
 * The stored counters equal a recount from the log (the clients matching the server's entries
 * proves nothing when the server's own count is wrong): one line per entry that differs.
 */
export async function storedCounterDrift(dbUrl: string, name: (id: string) => string): Promise<string[]> {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  try {
    const { rows: tenants } = await db.query<{ id: string }>('SELECT id FROM tenants');
    const out: string[] = [];
    for (const t of tenants)
      for (const d of await counterDrift(db, t.id))
        out.push(
          `${d.user_id}/${name(d.conversation_id)}: stored unread ${d.unread_count} / mentions ` +
            `${d.mention_count}, the log says ${d.unread_recount} / ${d.mention_recount}`,
        );
    return out;
  } finally {
    await db.end();
  }
}
