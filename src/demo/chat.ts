// The demo chat: one HeraldClient per page, and the state the page shows —
// every conversation of the inbox followed (for live previews, typing and
// presence), the selected thread's messages, receipts and unconfirmed sends.
// Everything goes through the SDK; the cache only fills the screen while
// (re)connecting and gives reloads a resume point.
import {
  type AppliedEvent,
  applyKindEvent,
  type ConnectionState,
  HeraldClient,
  type HeraldClientError,
  type InboxEntry,
  keepSummaries,
  type Message,
  type OutgoingMessage,
  type PresenceEntry,
  type Subscription,
} from '@herald/client';
import { type CachedThread, DemoCache } from './cache.ts';
import { byId, clock, displayName } from './dom.ts';
import { composed } from './kinds/index.ts';
import { mountPage, type PageModel, type ScrollMode, type ThreadModel } from './page.ts';
import { ThreadPanel } from './thread-panel.ts';
import type { Presence, Row } from './views.ts';

/** Events replayed when a conversation is first opened without a cache. */
const HISTORY = 50;
/** Errors that end a subscription (the SDK closes it); handled by forgetting the conversation. */
const ENDS_FOLLOWING: ReadonlySet<string> = new Set(['NOT_A_MEMBER', 'CONVERSATION_NOT_FOUND', 'FORBIDDEN']);
/** Followed conversations (the demo subscribes to the whole list). */
const MAX_FOLLOWED = 50;

interface Thread {
  sub: Subscription;
  messages: Map<string, Message>;
  /** Every message at or after this seq is known (1: the whole history). */
  historyFrom: number;
  members: string[] | null;
  /** Read positions of the other members (GET …/receipts, then `receipt` frames). */
  receipts: Map<string, number>;
  loadingOlder: boolean;
}

export interface ChatOptions {
  user: string;
  /** Peers offered for a direct conversation. */
  people: readonly string[];
  url: string;
  token: string;
  getToken: () => Promise<string>;
  deviceId: string;
  onSwitchUser: () => void;
}

export class ChatApp {
  readonly client: HeraldClient;
  private readonly me: string;
  private readonly cache: DemoCache;
  private readonly threads = new Map<string, Thread>();
  /** Our sends until their event shows up in the thread (keyed by client_id), with when they were made. */
  private readonly outgoing = new Map<string, { out: OutgoingMessage; at: string }>();
  private readonly typing = new Map<string, string[]>();
  /** Direct conversations opened from the people list before they have an inbox entry. */
  private readonly directs = new Map<string, { other: string; entry: InboxEntry }>();
  private readonly cachedInbox: InboxEntry[];
  private selected: string | null;
  private connection: ConnectionState = 'disconnected';
  private toast: { text: string; timer: number } | null = null;
  private renderQueued = false;
  /** How the next render places the message list: at the end, where it was, or below older history. */
  private scroll: ScrollMode = 'bottom';
  private readonly render: (m: PageModel, scroll: ScrollMode) => void;
  private readonly panel: ThreadPanel;

  constructor(private readonly opts: ChatOptions) {
    this.me = opts.user;
    this.cache = new DemoCache(location.origin, opts.user);
    this.cachedInbox = this.cache.inbox();
    this.selected = sessionStorage.getItem(this.selectedKey());
    this.client = new HeraldClient({
      url: opts.url,
      token: opts.token,
      getToken: opts.getToken,
      deviceId: opts.deviceId,
    });
    this.wire();
    this.panel = new ThreadPanel(this.client, this.me);
    this.render = mountPage(this.me, {
      openThread: (id) => {
        if (this.selected) this.panel.open(this.selected, id);
      },
      select: (id) => this.select(id),
      startDirect: (user) => void this.startDirect(user),
      loadOlder: (id) => void this.loadOlder(id),
      retry: (clientId) => this.retry(clientId),
      reconnect: () => this.client.connect(),
      switchUser: () => opts.onSwitchUser(),
      send: (body) => this.send(body),
      act: (id, kind, action, args) => this.act(id, kind, action, args),
      typing: () => {
        if (this.selected) this.client.typing(this.selected);
      },
    });
    // Resume what the cache knows at once: subscriptions go out with since_seq on the first welcome.
    for (const e of this.cachedInbox) this.follow(e.conversation_id, e.last_seq);
    this.client.connect();
    this.schedule();
  }

  // ---- SDK events ---------------------------------------------------------------

  private wire(): void {
    const c = this.client;
    c.on('state', ({ to }) => {
      this.connection = to;
      this.schedule();
    });
    c.on('welcome', () => {
      // (Presence needs nothing here: the SDK starts each room over from the resubscribe snapshot.)
      // Receipts that moved while we were away are not replayed: ask again for the open thread.
      if (this.selected) void this.loadReceipts(this.selected);
    });
    c.on('inbox', () => {
      const entries = this.inboxEntries();
      for (const e of entries.slice(0, MAX_FOLLOWED)) this.follow(e.conversation_id, e.last_seq);
      if (c.inbox.synced) this.cache.saveInbox(entries);
      this.schedule();
    });
    c.on('event', (e) => this.apply(e));
    c.on('sent', () => this.schedule());
    c.on('receipt', (r) => {
      const t = this.threads.get(r.conversation);
      if (!t || r.user_id === this.me) return;
      t.receipts.set(r.user_id, Math.max(t.receipts.get(r.user_id) ?? 0, r.seq));
      if (r.conversation === this.selected) this.schedule();
    });
    c.on('typing', ({ conversation, users }) => {
      this.typing.set(
        conversation,
        users.filter((u) => u !== this.me),
      );
      this.schedule();
    });
    // The SDK merges snapshots and deltas per room (client.presence(conversation)); just re-render.
    c.on('presence', () => this.schedule());
    c.on('error', (err) => this.onError(err));

    document.addEventListener('visibilitychange', () => {
      const visible = document.visibilityState === 'visible';
      c.setStatus(visible ? 'active' : 'idle');
      if (visible) this.markRead();
    });
    window.addEventListener('pagehide', () => c.disconnect());
  }

  private apply(e: AppliedEvent): void {
    const t = this.threads.get(e.conversation);
    if (!t) return;
    const ev = e.event;
    switch (ev.type) {
      case 'message.created':
      case 'message.edited': {
        // Thread replies live in the thread panel; here only their root's count moves.
        const count = ev.type === 'message.created' ? ev.thread : undefined;
        const root = count && t.messages.get(count.root_id);
        if (count && root) {
          const { reply_count, last_reply_at } = count;
          t.messages.set(root.id, { ...root, reply_count, last_reply_at });
        }
        if (ev.message.thread_root) break;
        t.messages.set(ev.message.id, keepSummaries(t.messages.get(ev.message.id), ev.message));
        if (ev.message.client_id) this.outgoing.delete(ev.message.client_id);
        break;
      }
      case 'message.deleted': {
        const m = t.messages.get(ev.message_id);
        if (m) t.messages.set(m.id, { ...m, body: '', attachments: [], deleted_at: ev.deleted_at });
        break;
      }
      default: {
        const m = t.messages.get(ev.message_id);
        if (m) t.messages.set(m.id, applyKindEvent(m, ev, this.me));
      }
    }
    this.saveThread(e.conversation, t);
    if (e.conversation === this.selected) {
      this.markRead();
      this.schedule();
    }
  }

  private onError(err: HeraldClientError): void {
    // Network trouble shows as the reconnect banner; failed sends show on their bubble.
    if (err.code === 'NETWORK_ERROR') return;
    if (err.ref && this.outgoing.has(err.ref)) return;
    // A conversation we may no longer read: its subscription closed and it left the list.
    if (err.ref && ENDS_FOLLOWING.has(err.code)) return;
    this.showToast(`${err.code}: ${err.message}`);
  }

  // ---- conversations ------------------------------------------------------------

  /** Follows a conversation: from the cache's resume point, else the last HISTORY events. */
  private follow(id: string, lastSeq: number): Thread {
    const existing = this.threads.get(id);
    if (existing && existing.sub.status !== 'closed') return existing;
    const cached: CachedThread | null = this.cache.thread(id);
    const since = cached ? cached.lastSeq : Math.max(0, lastSeq - HISTORY);
    const sub = this.client.open(id, { sinceSeq: since });
    const t: Thread = {
      sub,
      messages: new Map((cached?.messages ?? []).map((m) => [m.id, m])),
      historyFrom: cached ? cached.historyFrom : since + 1,
      members: null,
      receipts: new Map(),
      loadingOlder: false,
    };
    sub.on('closed', ({ code }) => {
      if (code === 'UNSUBSCRIBED') return;
      // No longer ours to read (left, removed, or a cache from a store that was reset): forget it.
      this.threads.delete(id);
      this.cache.forget(id);
      const i = this.cachedInbox.findIndex((e) => e.conversation_id === id);
      if (i >= 0) this.cachedInbox.splice(i, 1);
      if (this.selected === id) this.select(null);
      this.schedule();
    });
    this.threads.set(id, t);
    void this.loadMembers(id, t);
    if (id === this.selected) void this.loadReceipts(id);
    return t;
  }

  private select(id: string | null): void {
    if (this.panel.conversation !== id) this.panel.close();
    this.selected = id;
    if (id) sessionStorage.setItem(this.selectedKey(), id);
    else sessionStorage.removeItem(this.selectedKey());
    this.scroll = 'bottom';
    if (id) {
      const entry = this.entry(id);
      if (entry) this.follow(id, entry.last_seq);
      void this.loadReceipts(id);
      this.markRead();
      byId('composer-input').focus();
    }
    this.schedule();
  }

  private async startDirect(user: string): Promise<void> {
    try {
      const { conversation } = await this.client.http.direct(user);
      if (!this.client.inbox.get(conversation.id)) {
        const now = new Date().toISOString();
        this.directs.set(conversation.id, {
          other: user,
          entry: {
            conversation_id: conversation.id,
            kind: 'direct',
            title: null,
            last_seq: conversation.last_seq,
            last_read_seq: conversation.last_seq,
            unread_count: 0,
            mention_count: 0,
            archived: false,
            muted: false,
            pinned: false,
            last_activity_at: conversation.last_message?.created_at ?? now,
            last_message: conversation.last_message,
            version: 0,
          },
        });
      }
      this.follow(conversation.id, conversation.last_seq);
      this.select(conversation.id);
    } catch (err) {
      this.showToast(`Could not open a conversation with ${displayName(user)}: ${String(err)}`);
    }
  }

  private async loadMembers(id: string, t: Thread): Promise<void> {
    try {
      const page = await this.client.http.request<{ members: { user_id: string }[] }>(
        'GET',
        `/v1/conversations/${encodeURIComponent(id)}/members`,
        { query: { limit: 200 } },
      );
      t.members = page.members.map((m) => m.user_id);
      this.schedule();
    } catch {
      // Titles of direct conversations fall back to "Direct message"; nothing else depends on it.
    }
  }

  private async loadReceipts(id: string): Promise<void> {
    const t = this.threads.get(id);
    if (!t) return;
    try {
      const { receipts } = await this.client.http.request<{ receipts: { user_id: string; seq: number }[] }>(
        'GET',
        `/v1/conversations/${encodeURIComponent(id)}/receipts`,
        {},
      );
      for (const r of receipts) {
        if (r.user_id !== this.me) t.receipts.set(r.user_id, Math.max(t.receipts.get(r.user_id) ?? 0, r.seq));
      }
      if (id === this.selected) this.schedule();
    } catch {
      // Receipts are a nicety: live `receipt` frames still arrive.
    }
  }

  private async loadOlder(id: string): Promise<void> {
    const t = this.threads.get(id);
    if (!t || t.loadingOlder || t.historyFrom <= 1) return;
    t.loadingOlder = true;
    this.schedule();
    try {
      const page = await this.client.http.messages(id, { beforeSeq: t.historyFrom, limit: HISTORY });
      for (const m of page.messages) if (!t.messages.has(m.id)) t.messages.set(m.id, m);
      const oldest = Math.min(t.historyFrom, ...page.messages.map((m) => m.seq));
      t.historyFrom = page.has_more ? oldest : 1;
      this.scroll = 'older';
      this.saveThread(id, t);
    } catch (err) {
      this.showToast(`Could not load earlier messages: ${String(err)}`);
    } finally {
      t.loadingOlder = false;
      this.schedule();
    }
  }

  /**
   * Reads up to what the open thread has applied, while the page is visible. The page does not
   * use client.view(): the server writes messages to a viewer already read but sends the sender
   * no `receipt` for that, so "Seen by" would never appear. An explicit read does send one.
   */
  private markRead(): void {
    if (!this.selected || document.visibilityState === 'hidden') return;
    const seq = this.threads.get(this.selected)?.sub.lastSeq;
    if (seq) this.client.read(this.selected, seq);
  }

  private send(text: string): void {
    if (!this.selected) return;
    const { body, fields } = composed(text);
    this.track(this.client.send(this.selected, body, fields));
  }

  /** A kind's action through the SDK; its event updates the thread, a refusal shows as a toast. */
  private act(id: string, kind: string, action: string, args: Record<string, unknown>): void {
    const conversation = this.selected;
    if (!conversation) return;
    const calls = this.client.kinds as unknown as Record<
      string,
      Record<string, (c: string, m: string, a: Record<string, unknown>) => Promise<unknown>>
    >;
    calls[kind]
      ?.[action]?.(conversation, id, args)
      .catch((err: HeraldClientError) => this.showToast(err.message));
  }

  private retry(clientId: string): void {
    const failed = this.outgoing.get(clientId)?.out;
    if (!failed) return;
    this.outgoing.delete(clientId);
    this.track(this.client.send(failed.conversation, failed.body, failed.options));
  }

  private track(out: OutgoingMessage): void {
    this.outgoing.set(out.client_id, { out, at: new Date().toISOString() });
    this.scroll = 'bottom';
    out.done.then(
      () => this.schedule(),
      () => this.schedule(),
    );
    this.schedule();
  }

  // ---- derived state ------------------------------------------------------------

  private selectedKey(): string {
    return `herald-demo:${this.me}:selected`;
  }

  private saveThread(id: string, t: Thread): void {
    this.cache.saveThread(id, {
      lastSeq: t.sub.lastSeq ?? 0,
      historyFrom: t.historyFrom,
      messages: [...t.messages.values()].sort((a, b) => a.seq - b.seq),
    });
  }

  private inboxEntries(): InboxEntry[] {
    const live = this.client.inbox.list().filter((e) => e.kind !== 'notices');
    const known = new Set(live.map((e) => e.conversation_id));
    const base = this.client.inbox.synced || live.length ? live : this.cachedInbox;
    const extra = [...this.directs.values()].map((d) => d.entry).filter((e) => !known.has(e.conversation_id));
    return [...extra, ...base];
  }

  private entry(id: string): InboxEntry | undefined {
    return (
      this.client.inbox.get(id) ??
      this.directs.get(id)?.entry ??
      this.cachedInbox.find((e) => e.conversation_id === id)
    );
  }

  private otherOf(id: string, kind: string): string | null {
    if (kind !== 'direct') return null;
    const d = this.directs.get(id);
    if (d) return d.other;
    return this.threads.get(id)?.members?.find((u) => u !== this.me) ?? null;
  }

  private title(e: InboxEntry): string {
    const other = this.otherOf(e.conversation_id, e.kind);
    if (other) return displayName(other);
    return e.title ?? (e.kind === 'direct' ? 'Direct message' : 'Untitled');
  }

  private presenceOf(user: string): Presence {
    // Offline ourselves, we know nothing of the others either.
    if (this.connection !== 'connected') return 'offline';
    if (user === this.me) return 'online';
    let best: Presence = 'offline';
    for (const p of this.devicesOf(user)) {
      if (p.status === 'active' || p.status === 'viewing') return 'online';
      if (p.status === 'idle' || p.status === 'away') best = 'away';
    }
    return best;
  }

  /** The user's present devices, as the SDK knows them from every followed conversation. */
  private *devicesOf(user: string): Iterable<PresenceEntry> {
    for (const conversation of this.threads.keys()) {
      for (const p of this.client.presence(conversation)) if (p.user_id === user) yield p;
    }
  }

  private preview(e: InboxEntry): string {
    const m = e.last_message;
    if (!m) return 'No messages yet';
    if (m.sender.type === 'system') return m.body || 'Conversation updated';
    const who = m.sender.user_id === this.me ? 'You' : displayName(m.sender.user_id);
    return `${who}: ${m.body}`;
  }

  // ---- rendering ----------------------------------------------------------------

  private showToast(text: string): void {
    if (this.toast) clearTimeout(this.toast.timer);
    this.toast = {
      text,
      timer: window.setTimeout(() => {
        this.toast = null;
        this.schedule();
      }, 6000),
    };
    this.schedule();
  }

  /** Coalesces renders: many frames in one task cost one render. */
  private schedule(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    setTimeout(() => {
      this.renderQueued = false;
      this.render(this.model(), this.scroll);
      this.scroll = 'keep';
    }, 0);
  }

  /** What the page shows, derived from the client and the state above. */
  private model(): PageModel {
    const entries = this.inboxEntries();
    const thread = this.selected ? this.threadModel(this.selected) : null;
    return {
      me: this.me,
      connection: this.connection,
      hasCache: (thread?.rows.length ?? 0) > 0 || entries.length > 0,
      toast: this.toast?.text ?? null,
      listLoading: !this.client.inbox.synced,
      list: entries.map((e) => {
        const other = this.otherOf(e.conversation_id, e.kind);
        const active = e.conversation_id === this.selected;
        return {
          id: e.conversation_id,
          title: this.title(e),
          kind: e.kind,
          preview: this.preview(e),
          time: e.last_message ? clock(e.last_message.created_at) : '',
          // The open thread is being read: its count is on its way to zero, do not flash it.
          unread: active && document.visibilityState === 'visible' ? 0 : e.unread_count,
          typing: this.typing.get(e.conversation_id) ?? [],
          active,
          other,
          presence: other ? this.presenceOf(other) : null,
        };
      }),
      people: this.opts.people
        .filter((u) => u !== this.me)
        .map((user) => ({ user, presence: this.presenceOf(user) })),
      thread,
    };
  }

  private threadModel(id: string): ThreadModel {
    const entry = this.entry(id);
    const t = this.threads.get(id);
    const rows: Row[] = [...(t?.messages.values() ?? [])]
      .sort((a, b) => a.seq - b.seq)
      .map((m) => ({
        key: m.id,
        message: m,
        seq: m.seq,
        mine: m.sender.type === 'user' && m.sender.user_id === this.me,
        status: null,
        error: null,
      }));
    for (const { out, at } of this.outgoing.values()) {
      if (out.conversation !== id) continue;
      rows.push({
        key: out.client_id,
        message: {
          body: out.body,
          created_at: at,
          sender: { type: 'user', user_id: this.me },
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
      title: entry ? this.title(entry) : 'Conversation',
      loading: !t,
      members: (t?.members ?? []).map((user) => ({ user, presence: this.presenceOf(user) })),
      rows,
      seenBy: { after: lastMine?.key ?? null, users: seen.sort() },
      olderHistory: t ? (t.loadingOlder ? 'loading' : t.historyFrom > 1 ? 'more' : 'none') : 'none',
      typing: this.typing.get(id) ?? [],
    };
  }
}
