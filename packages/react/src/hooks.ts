// The hooks. Each reads one topic of the provider's HeraldStore through
// useSyncExternalStore and returns the same object until that topic changes.
import type {
  ConnectionState,
  HeraldClientEvents,
  InboxEntry,
  Message,
  Notice,
  OutgoingMessage,
  PresenceEntry,
  SendOptions,
  SubscriptionStatus,
  WelcomeInfo,
} from '@herald/client';
import { useCallback, useEffect, useRef, useSyncExternalStore } from 'react';
import { useHeraldStore } from './provider.tsx';
import type { HeraldStore, Topic } from './store.ts';

/** A snapshot of `topic`, recomputed only when its version (or `key`: the hook's other inputs) changes. */
function useTopic<T>(topic: Topic, key: string, compute: (store: HeraldStore) => T): T {
  const store = useHeraldStore();
  const cache = useRef<{ store: HeraldStore; key: string; version: number; value: T } | null>(null);
  const subscribe = useCallback((listener: () => void) => store.subscribe(topic, listener), [store, topic]);
  const snapshot = () => {
    const version = store.version(topic);
    const c = cache.current;
    const fullKey = `${topic}\u0000${key}`;
    if (c && c.store === store && c.key === fullKey && c.version === version) return c.value;
    const value = compute(store);
    cache.current = { store, key: fullKey, version, value };
    return value;
  };
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}

/** `connecting`, `connected`, `reconnecting` or `disconnected` (show a banner while reconnecting). */
export function useConnectionState(): ConnectionState {
  return useTopic('connection', '', (s) => s.client.state);
}

/** The last `welcome` (user, tenant, device, token expiry); null before the first connect. */
export function useSession(): WelcomeInfo | null {
  return useTopic('connection', '', (s) => s.client.session);
}

export interface InboxState {
  /** Conversations, as the inbox store orders them. */
  entries: InboxEntry[];
  totals: { unread: number; mentions: number };
  /** False until the first sync after connecting has finished. */
  synced: boolean;
}

/** The user's conversation list with unread counts, kept in sync by the client. */
export function useInbox(opts: { includeArchived?: boolean } = {}): InboxState {
  const includeArchived = opts.includeArchived ?? false;
  return useTopic('inbox', String(includeArchived), (s) => ({
    entries: s.client.inbox.list({ includeArchived }),
    totals: s.client.inbox.totals(),
    synced: s.client.inbox.synced,
  }));
}

/** Unread messages of one conversation (0 when it is not in the inbox). */
export function useUnread(conversation: string): number {
  return useTopic('inbox', conversation, (s) => s.client.inbox.get(conversation)?.unread_count ?? 0);
}

export interface NoticesState {
  notices: Notice[];
  unread: number;
  synced: boolean;
}

/** The user's notices (newest first) and how many are unread. */
export function useNotices(
  opts: { includeArchived?: boolean; includeDismissed?: boolean } = {},
): NoticesState {
  const includeArchived = opts.includeArchived ?? false;
  const includeDismissed = opts.includeDismissed ?? false;
  return useTopic('notices', `${includeArchived}/${includeDismissed}`, (s) => ({
    notices: s.client.notices.list({ includeArchived, includeDismissed }),
    unread: s.client.notices.unreadCount(),
    synced: s.client.notices.synced,
  }));
}

export interface SendState {
  /** Sends not shown as a message yet (queued, in flight, confirmed but not yet in the timeline, failed). */
  outgoing: OutgoingMessage[];
  /** Optimistic: the send appears in `outgoing` at once and leaves it when its message is in the timeline. */
  send(body: string, opts?: SendOptions): OutgoingMessage;
  /** Takes a (failed) send out of `outgoing`. */
  dismiss(clientId: string): void;
}

function outgoingOf(s: HeraldStore, conversation: string): OutgoingMessage[] {
  const sub = s.subscription(conversation);
  const ids = sub ? new Set(sub.messages().map((m) => m.id)) : null;
  // Without an open timeline a confirmed send has nowhere left to wait for.
  return s.outgoing(conversation, (id) => ids === null || ids.has(id));
}

/** Sending into a conversation (for a composer that does not show the timeline itself). */
export function useSend(conversation: string): SendState {
  const store = useHeraldStore();
  const outgoing = useTopic(`conversation:${conversation}`, 'outgoing', (s) => outgoingOf(s, conversation));
  const send = useCallback(
    (body: string, opts?: SendOptions) => store.send(conversation, body, opts),
    [store, conversation],
  );
  const dismiss = useCallback((id: string) => store.dismiss(conversation, id), [store, conversation]);
  return { outgoing, send, dismiss };
}

export interface ConversationState extends SendState {
  /** The timeline: messages in seq order (live, replayed, caught up, or loaded with loadOlder). */
  messages: Message[];
  /** `subscribing` until the server confirmed; `closed` when it ended (e.g. you left). */
  status: SubscriptionStatus | 'idle';
  /** Seq of the last applied event (null until the first `subscribed` when opened without sinceSeq). */
  lastSeq: number | null;
  /** True while a hole or the tail of a replay is being fetched over HTTP. */
  catchingUp: boolean;
  /** Loads older history into the timeline. */
  loadOlder(limit?: number): Promise<void>;
  /** Marks everything up to the last applied event read. */
  markRead(): void;
}

interface Timeline {
  messages: Message[];
  status: SubscriptionStatus | 'idle';
  lastSeq: number | null;
  catchingUp: boolean;
}

/**
 * Follows a conversation while mounted: opens it (shared with other components showing it; the
 * last one to unmount closes it) and returns its timeline and optimistic sends. `view: true` also
 * tells the server it is on screen, so its messages arrive already read.
 */
export function useConversation(
  conversation: string,
  opts: { sinceSeq?: number; view?: boolean } = {},
): ConversationState {
  const store = useHeraldStore();
  const { sinceSeq, view = false } = opts;
  const timeline = useTopic(`conversation:${conversation}`, 'timeline', (s): Timeline => {
    const sub = s.subscription(conversation);
    if (!sub) return { messages: [], status: 'idle', lastSeq: null, catchingUp: false };
    return { messages: sub.messages(), status: sub.status, lastSeq: sub.lastSeq, catchingUp: sub.catchingUp };
  });
  const sending = useSend(conversation);

  // sinceSeq only matters to whoever opens the conversation first; a change of it alone does not reopen.
  const since = useRef(sinceSeq);
  since.current = sinceSeq;
  useEffect(() => {
    store.acquire(conversation, since.current);
    return () => store.release(conversation);
  }, [store, conversation]);
  useEffect(() => {
    if (!view) return;
    store.client.view(conversation);
    return () => store.client.view(null);
  }, [store, conversation, view]);

  const loadOlder = useCallback(
    async (limit?: number) => {
      const sub = store.subscription(conversation);
      if (!sub) return;
      await sub.loadOlder(limit);
      store.bump(`conversation:${conversation}`);
    },
    [store, conversation],
  );
  const markRead = useCallback(() => {
    const seq = store.subscription(conversation)?.lastSeq;
    if (seq) store.client.read(conversation, seq);
  }, [store, conversation]);

  return { ...timeline, ...sending, loadOlder, markRead };
}

export interface TypingState {
  /** Other users typing in the conversation now (each indicator expires after a few seconds). */
  users: string[];
  /** Call on keystrokes: sends at most one `typing` frame per throttle window. */
  notify(): void;
}

export function useTyping(conversation: string): TypingState {
  const store = useHeraldStore();
  const users = useTopic(`typing:${conversation}`, '', (s) => s.client.typingUsers(conversation));
  const notify = useCallback(() => void store.client.typing(conversation), [store, conversation]);
  return { users, notify };
}

/**
 * Devices present in a conversation (null: the user-level roster), one entry per user and device.
 * Filled while the conversation is open (useConversation) — the server sends presence to subscribers.
 */
export function usePresence(conversation: string | null): PresenceEntry[] {
  return useTopic(`presence:${conversation ?? ''}`, '', (s) => s.client.presence(conversation));
}

/** Calls `handler` for each client event of `type` while mounted (the latest handler; no resubscribe per render). */
export function useHeraldEvent<K extends keyof HeraldClientEvents>(
  type: K,
  handler: (payload: HeraldClientEvents[K]) => void,
): void {
  const store = useHeraldStore();
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => store.client.on(type, (payload) => latest.current(payload)), [store, type]);
}
