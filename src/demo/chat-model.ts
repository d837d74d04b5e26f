// What the demo page shows, derived from the SDK client and the chat's own state (chat.ts):
// the conversation list, the people, the open conversation's rows, receipts and typing.
// Pure functions of a ChatView: no state, no DOM writes.
import type {
  ConnectionState,
  HeraldClient,
  InboxEntry,
  Message,
  OutgoingMessage,
  PresenceEntry,
  Subscription,
} from '@herald/client';
import { clock, displayName } from './dom.ts';
import type { PageModel, ThreadModel } from './page.ts';
import type { Presence, Row } from './views.ts';

/** A followed conversation, as the chat holds it. */
export interface Thread {
  sub: Subscription;
  messages: Map<string, Message>;
  /** Every message at or after this seq is known (1: the whole history). */
  historyFrom: number;
  members: string[] | null;
  /** Read positions of the other members (GET …/receipts, then `receipt` frames). */
  receipts: Map<string, number>;
  loadingOlder: boolean;
}

/** What the model reads of the chat. */
export interface ChatView {
  client: HeraldClient;
  me: string;
  people: readonly string[];
  threads: ReadonlyMap<string, Thread>;
  outgoing: ReadonlyMap<string, { out: OutgoingMessage; at: string }>;
  typing: ReadonlyMap<string, string[]>;
  directs: ReadonlyMap<string, { other: string; entry: InboxEntry }>;
  cachedInbox: readonly InboxEntry[];
  selected: string | null;
  connection: ConnectionState;
  toast: string | null;
}

export function inboxEntries(v: ChatView): InboxEntry[] {
  const live = v.client.inbox.list().filter((e) => e.kind !== 'notices');
  const known = new Set(live.map((e) => e.conversation_id));
  const base = v.client.inbox.synced || live.length ? live : v.cachedInbox;
  const extra = [...v.directs.values()].map((d) => d.entry).filter((e) => !known.has(e.conversation_id));
  return [...extra, ...base];
}

export function entryOf(v: ChatView, id: string): InboxEntry | undefined {
  return (
    v.client.inbox.get(id) ?? v.directs.get(id)?.entry ?? v.cachedInbox.find((e) => e.conversation_id === id)
  );
}

function otherOf(v: ChatView, id: string, kind: string): string | null {
  if (kind !== 'direct') return null;
  const d = v.directs.get(id);
  if (d) return d.other;
  return v.threads.get(id)?.members?.find((u) => u !== v.me) ?? null;
}

function title(v: ChatView, e: InboxEntry): string {
  const other = otherOf(v, e.conversation_id, e.kind);
  if (other) return displayName(other);
  return e.title ?? (e.kind === 'direct' ? 'Direct message' : 'Untitled');
}

function presenceOf(v: ChatView, user: string): Presence {
  // Offline ourselves, we know nothing of the others either.
  if (v.connection !== 'connected') return 'offline';
  if (user === v.me) return 'online';
  let best: Presence = 'offline';
  for (const p of devicesOf(v, user)) {
    if (p.status === 'active' || p.status === 'viewing') return 'online';
    if (p.status === 'idle' || p.status === 'away') best = 'away';
  }
  return best;
}

/** The user's present devices, as the SDK knows them from every followed conversation. */
function* devicesOf(v: ChatView, user: string): Iterable<PresenceEntry> {
  for (const conversation of v.threads.keys()) {
    for (const p of v.client.presence(conversation)) if (p.user_id === user) yield p;
  }
}

function preview(v: ChatView, e: InboxEntry): string {
  const m = e.last_message;
  if (!m) return 'No messages yet';
  if (m.sender.type === 'system') return m.body || 'Conversation updated';
  const who = m.sender.user_id === v.me ? 'You' : displayName(m.sender.user_id);
  return `${who}: ${m.body}`;
}

/** What the page shows, derived from the client and the chat's state. */
export function pageModel(v: ChatView): PageModel {
  const entries = inboxEntries(v);
  const thread = v.selected ? threadModel(v, v.selected) : null;
  return {
    me: v.me,
    connection: v.connection,
    hasCache: (thread?.rows.length ?? 0) > 0 || entries.length > 0,
    toast: v.toast,
    listLoading: !v.client.inbox.synced,
    list: entries.map((e) => {
      const other = otherOf(v, e.conversation_id, e.kind);
      const active = e.conversation_id === v.selected;
      return {
        id: e.conversation_id,
        title: title(v, e),
        kind: e.kind,
        preview: preview(v, e),
        time: e.last_message ? clock(e.last_message.created_at) : '',
        // The open thread is being read: its count is on its way to zero, do not flash it.
        unread: active && document.visibilityState === 'visible' ? 0 : e.unread_count,
        typing: v.typing.get(e.conversation_id) ?? [],
        active,
        other,
        presence: other ? presenceOf(v, other) : null,
      };
    }),
    people: v.people.filter((u) => u !== v.me).map((user) => ({ user, presence: presenceOf(v, user) })),
    thread,
  };
}

function threadModel(v: ChatView, id: string): ThreadModel {
  const entry = entryOf(v, id);
  const t = v.threads.get(id);
  const rows: Row[] = [...(t?.messages.values() ?? [])]
    .sort((a, b) => a.seq - b.seq)
    .map((m) => ({
      key: m.id,
      message: m,
      seq: m.seq,
      mine: m.sender.type === 'user' && m.sender.user_id === v.me,
      status: null,
      error: null,
    }));
  for (const { out, at } of v.outgoing.values()) {
    if (out.conversation !== id) continue;
    rows.push({
      key: out.client_id,
      message: {
        body: out.body,
        created_at: at,
        sender: { type: 'user', user_id: v.me },
        kind: 'group',
        data: null,
        edited_at: null,
        deleted_at: null,
      },
      seq: out.result?.seq ?? null,
      mine: true,
      status: out.status === 'failed' ? 'failed' : out.status === 'confirmed' ? 'sent' : 'sending',
      error: out.error?.code ?? null,
    });
  }
  // "Seen by": under our latest confirmed message, the members whose read position reached it.
  const lastMine = rows.filter((r) => r.mine && r.seq !== null && r.status !== 'failed').at(-1);
  const seen =
    lastMine && t ? [...t.receipts].filter(([, seq]) => seq >= (lastMine.seq ?? 0)).map(([u]) => u) : [];
  return {
    id,
    title: entry ? title(v, entry) : 'Conversation',
    loading: !t,
    members: (t?.members ?? []).map((user) => ({ user, presence: presenceOf(v, user) })),
    rows,
    seenBy: { after: lastMine?.key ?? null, users: seen.sort() },
    olderHistory: t ? (t.loadingOlder ? 'loading' : t.historyFrom > 1 ? 'more' : 'none') : 'none',
    typing: v.typing.get(id) ?? [],
  };
}
