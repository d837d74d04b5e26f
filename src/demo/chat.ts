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
  type OutgoingMessage,
} from '@herald/client';
import { type CachedThread, DemoCache } from './cache.ts';
import { type ChatView, entryOf, inboxEntries, pageModel, type Thread } from './chat-model.ts';
import { memberIds, placeholderEntry, readPositions } from './chat-reads.ts';
import { byId, displayName } from './dom.ts';
import { composed } from './kinds/index.ts';
import { mountPage, type PageModel, type ScrollMode } from './page.ts';
import { ThreadPanel } from './thread-panel.ts';

/** Events replayed when a conversation is first opened without a cache. */
const HISTORY = 50;
/** Errors that end a subscription (the SDK closes it); handled by forgetting the conversation. */
const ENDS_FOLLOWING: ReadonlySet<string> = new Set(['NOT_A_MEMBER', 'CONVERSATION_NOT_FOUND', 'FORBIDDEN']);
/** Followed conversations (the demo subscribes to the whole list). */
const MAX_FOLLOWED = 50;

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
      if (!this.client.inbox.get(conversation.id))
        this.directs.set(conversation.id, { other: user, entry: placeholderEntry(conversation) });
      this.follow(conversation.id, conversation.last_seq);
      this.select(conversation.id);
    } catch (err) {
      this.showToast(`Could not open a conversation with ${displayName(user)}: ${String(err)}`);
    }
  }

  private async loadMembers(id: string, t: Thread): Promise<void> {
    try {
      t.members = await memberIds(this.client, id);
      this.schedule();
    } catch {
      // Titles of direct conversations fall back to "Direct message"; nothing else depends on it.
    }
  }

  private async loadReceipts(id: string): Promise<void> {
    const t = this.threads.get(id);
    if (!t) return;
    try {
      for (const r of await readPositions(this.client, id)) {
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

  /** What the page shows, derived from the client and the state above (chat-model.ts). */
  private model(): PageModel {
    return pageModel(this.view());
  }

  private view(): ChatView {
    return {
      client: this.client,
      me: this.me,
      people: this.opts.people,
      threads: this.threads,
      outgoing: this.outgoing,
      typing: this.typing,
      directs: this.directs,
      cachedInbox: this.cachedInbox,
      selected: this.selected,
      connection: this.connection,
      toast: this.toast?.text ?? null,
    };
  }

  private inboxEntries(): InboxEntry[] {
    return inboxEntries(this.view());
  }

  private entry(id: string): InboxEntry | undefined {
    return entryOf(this.view(), id);
  }
}
