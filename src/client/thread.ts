// A thread timeline: one root message and its replies, from history (HTTP pages) and live
// (the conversation's events, which carry every reply with its seq), plus the user's entry of
// the thread (unread) from `thread` frames. Replies are sent like any message, with
// `thread_root`, so they share the client's outbox, retries and idempotency. Mark-read goes
// over the socket when it can (a `thread_read` frame, confirmed by the `thread` frame it
// causes), over HTTP otherwise.
import { type Message, type ThreadEntry, type ThreadSummary, withThreadSummary } from '../protocol/model.ts';
import { Emitter } from './emitter.ts';
import type { HeraldClientError } from './errors.ts';
import type { HeraldHttp } from './http.ts';
import type { StateChange } from './options.ts';
import type { OutgoingMessage, SendOptions } from './outbox.ts';
import type { AppliedEvent } from './subscription.ts';

export interface ThreadEvents {
  /** The root or the replies changed (a reply, an edit, a delete, a page loaded). */
  change: { root: Message | null; replies: number };
  /** The user's entry of this thread changed (a reply, a mark-read on any device). */
  entry: ThreadEntry;
}

/** What a thread needs from the client; kept narrow so it can be tested alone. */
export interface ThreadHost {
  readonly http: HeraldHttp;
  open(conversation: string): unknown;
  send(conversation: string, body: string, opts?: SendOptions): OutgoingMessage;
  on(type: 'event', listener: (e: AppliedEvent) => void): () => void;
  on(type: 'thread', listener: (e: ThreadEntry) => void): () => void;
  on(type: 'welcome', listener: () => void): () => void;
  on(type: 'error', listener: (e: HeraldClientError) => void): () => void;
  on(type: 'state', listener: (e: StateChange) => void): () => void;
  /**
   * Writes a `thread_read` frame on a connected WebSocket; false when it must go over HTTP (not
   * connected, SSE). A host without it marks read over HTTP.
   */
  _writeThreadRead?(conversation: string, rootId: string, seq: number): boolean;
}

/** How long a `thread_read` frame waits for its `thread` frame before HTTP settles it. */
export const THREAD_READ_CONFIRM_MS = 5_000;

export class ThreadTimeline extends Emitter<ThreadEvents> {
  private _root: Message | null = null;
  private readonly replies = new Map<string, Message>();
  private _entry: ThreadEntry | null = null;
  private _hasOlder = true;
  /** Orders live counts against page loads (a count newer than a page's request wins). */
  private clock = 0;
  private liveCount: { summary: ThreadSummary; at: number } | null = null;
  private readonly offs: (() => void)[];

  constructor(
    private readonly host: ThreadHost,
    readonly conversation: string,
    /** The root's id (a reply's id names its root's thread too: the server resolves it). */
    readonly rootId: string,
  ) {
    super();
    // Live replies come through the conversation's subscription: follow it.
    host.open(conversation);
    this.offs = [
      host.on('event', (e) => this.onEvent(e)),
      host.on('thread', (entry) => this.onEntry(entry)),
      // `thread` frames missed while away are not replayed: read the entry again.
      host.on('welcome', () => void this.syncEntry().catch(() => {})),
    ];
  }

  get root(): Message | null {
    return this._root;
  }

  /** The user's entry of this thread (null until a `thread` frame, a mark-read or a participant's sync). */
  get entry(): ThreadEntry | null {
    return this._entry;
  }

  /** Whether older replies may lie before the loaded ones. */
  get hasOlder(): boolean {
    return this._hasOlder;
  }

  /** Replies seen so far (loaded or live), ascending by seq. */
  messages(): Message[] {
    return [...this.replies.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Loads the newest page (first call: with the user's entry) or the page before the oldest loaded reply. */
  async loadOlder(limit = 50): Promise<Message[]> {
    const oldest = this.messages()[0]?.seq;
    const requested = ++this.clock;
    const page = await this.host.http.threadMessages(this.conversation, this.rootId, {
      beforeSeq: oldest,
      limit,
    });
    // Keep what live events said while the page loaded: a newer edit, a higher count.
    const live = this._root;
    this._root = live && (live.edited_at ?? '') > (page.root.edited_at ?? '') ? live : page.root;
    // A count that came live while the page loaded is newer than the page's.
    if (this.liveCount && this.liveCount.at > requested)
      this._root = withThreadSummary(this._root, this.liveCount.summary);
    for (const m of page.messages) if (!this.replies.has(m.id)) this.replies.set(m.id, m);
    this._hasOlder = page.has_more;
    this.changed();
    if (oldest === undefined) await this.syncEntry(); // now by the root's id
    return page.messages;
  }

  /** Sends a reply in this thread (optimistic, like client.send). */
  reply(body: string, opts: Omit<SendOptions, 'thread_root'> = {}): OutgoingMessage {
    return this.host.send(this.conversation, body, { ...opts, thread_root: this._root?.id ?? this.rootId });
  }

  /**
   * Marks the thread read up to `seq` (default: its newest reply seen here). A participant's
   * read goes as a `thread_read` frame when connected over a WebSocket and resolves with the
   * `thread` frame it causes. Over HTTP when the socket cannot take it (not connected, the SSE
   * fallback), for a non-participant (whose read stores nothing and causes no frame), and when
   * the frame is not confirmed (an error naming the conversation, the socket gone, or
   * THREAD_READ_CONFIRM_MS): HTTP answers with the entry or the typed error, and a read is
   * idempotent, so sending both is harmless.
   */
  async markRead(seq?: number): Promise<ThreadEntry> {
    const upTo = seq ?? this.messages().at(-1)?.seq ?? this._root?.seq ?? 0;
    const known = this._entry;
    if (known && known.version !== 0) {
      // Read that far already: nothing would move, and no frame would come.
      if (known.last_read_seq >= upTo) return known;
      const confirmed = await this.readOverSocket(upTo);
      if (confirmed) return confirmed;
    }
    const { thread } = await this.host.http.markThreadRead(this.conversation, this.rootId, upTo);
    this.onEntry(thread);
    return thread;
  }

  /** The `thread` frame confirming a `thread_read` up to `seq`, or null (HTTP decides). */
  private readOverSocket(seq: number): Promise<ThreadEntry | null> {
    return new Promise((resolve) => {
      const offs: (() => void)[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (entry: ThreadEntry | null) => {
        clearTimeout(timer);
        for (const off of offs) off();
        resolve(entry);
      };
      offs.push(
        this.on('entry', (e) => {
          if (e.last_read_seq >= seq) finish(e);
        }),
        this.host.on('error', (err) => {
          if (err.ref === this.conversation) finish(null);
        }),
        this.host.on('state', ({ to }) => {
          if (to !== 'connected') finish(null);
        }),
      );
      if (!this.host._writeThreadRead?.(this.conversation, this.rootId, seq)) {
        finish(null);
        return;
      }
      timer = setTimeout(() => finish(null), THREAD_READ_CONFIRM_MS);
    });
  }

  /** Reads the user's entry of this thread over HTTP (none: not a participant). */
  async syncEntry(): Promise<ThreadEntry | null> {
    const rootId = this._root?.id ?? this.rootId;
    const { threads } = await this.host.http.threads(this.conversation, { rootId });
    const entry = threads.find((e) => this.isOurs(e.root_id)) ?? null;
    if (entry) this.onEntry(entry);
    return entry;
  }

  /** Stops following (the conversation's subscription stays open). */
  close(): void {
    for (const off of this.offs) off();
  }

  private isOurs(id: string): boolean {
    return id === this.rootId || id === this._root?.id;
  }

  private onEvent({ conversation, event }: AppliedEvent): void {
    if (conversation !== this.conversation) return;
    switch (event.type) {
      case 'message.created':
        if (event.message.thread_root && this.isOurs(event.message.thread_root)) {
          this.replies.set(event.message.id, event.message);
          if (event.thread) this.count(event.thread);
          this.changed();
        }
        return;
      case 'message.edited':
        if (this.isOurs(event.message.id)) this._root = event.message;
        else if (this.replies.has(event.message.id)) this.replies.set(event.message.id, event.message);
        else return;
        this.changed();
        return;
      case 'message.deleted': {
        const { message_id: id, deleted_at } = event;
        const erase = (m: Message): Message => ({ ...m, body: '', attachments: [], deleted_at });
        const reply = this.replies.get(id);
        const ours = event.thread !== undefined && this.isOurs(event.thread.root_id);
        if (this._root && this.isOurs(id)) this._root = erase(this._root);
        else if (reply) this.replies.set(id, erase(reply));
        else if (!ours) return;
        if (ours && event.thread) this.count(event.thread);
        this.changed();
        return;
      }
    }
  }

  /**
   * The count the newest event says (events arrive once and in seq order: down too, after a
   * deleted reply); remembered with when it came, for a page that was loading meanwhile.
   */
  private count(t: ThreadSummary): void {
    this.liveCount = { summary: t, at: ++this.clock };
    if (this._root) this._root = withThreadSummary(this._root, t);
  }

  private onEntry(entry: ThreadEntry): void {
    if (entry.conversation_id !== this.conversation || !this.isOurs(entry.root_id)) return;
    // A stored entry's version only grows; 0 is a non-participant's entry (never stored).
    if (this._entry && entry.version !== 0 && entry.version <= this._entry.version) return;
    this._entry = entry;
    this.emit('entry', entry);
  }

  private changed(): void {
    this.emit('change', { root: this._root, replies: this.replies.size });
  }
}
