// Large channels (DESIGN §6) write no inbox row per member and publish nothing per member, so a
// connected member who has not subscribed to the room would hear nothing until its next inbox
// sync. Instead this node listens to each large channel's room topic once, on behalf of every
// local member connection (member-hints.ts), and derives their hint locally: one `inbox_hint`
// frame per channel per interval (the first at once, then the latest of each interval), built
// once and written as the same bytes to every member connection that is not viewing the channel
// (a viewer's entry is written, read). Subscribers are hinted too: the SDK's inbox does not move
// with a room's events, and a small channel's subscribers get their `inbox` frames as well. The
// frame names no user: each SDK derives unread from its own entry's last_read_seq.
import type { MessageKind, MessagePreview, ServerFrame } from '../protocol/index.ts';
import { previewBody, topics } from '../protocol/index.ts';
import { TopicFrame, type TopicHub } from './topic-hub.ts';

type Json = Record<string, unknown>;

/** What a channel's hints need of one member connection (member-hints.ts implements it). */
export interface HintMember {
  readonly user: string;
  /** This connection views the channel: its entry is written (read) for every message. */
  viewing(conversation: string): boolean;
  /** Writes the shared hint frame. */
  hint(frame: TopicFrame): void;
  /** The channel's `left` event names this user: stop hinting. */
  left(conversation: string): void;
}

/** A connection's channels not (yet) large, checked now and then for growth past the threshold. */
export interface GrowthWatcher {
  readonly tenant: string;
  smallChannels(): Iterable<string>;
  /** The channel has grown past the threshold: hint it from now on. */
  grown(conversation: string): void;
}

/** Which of a tenant's channels `ids` are large now (ConnectionReader.largeChannelsAmong). */
export type LargeAmong = (tenant: string, ids: readonly string[]) => Promise<Set<string>>;

interface Channel {
  readonly conversation: string;
  readonly members: Set<HintMember>;
  ready: Promise<void>;
  unlisten: (() => void) | null;
  closed: boolean;
  /** Highest event seq seen, and the one last hinted. */
  seq: number;
  hinted: number;
  /** The latest created message not hinted yet (its preview), with its seq. */
  created: Json | null;
  createdSeq: number;
  lastHintMs: number;
  timer: NodeJS.Timeout | null;
}

export class InboxHints {
  private readonly channels = new Map<string, Channel>();
  private readonly watchers = new Set<GrowthWatcher>();

  constructor(
    private readonly hub: TopicHub,
    /** At most one hint per channel per this many ms (the latest wins). */
    private readonly intervalMs: number,
    private readonly largeAmong: LargeAmong,
    private readonly now: () => number = Date.now,
  ) {}

  /** Checks `w`'s small channels on every recheck(), until untrack(). */
  track(w: GrowthWatcher): void {
    this.watchers.add(w);
  }

  untrack(w: GrowthWatcher): void {
    this.watchers.delete(w);
  }

  /**
   * A channel grows past the threshold with joins whose frames reach only the joiners, so the
   * members connected meanwhile would not know: the node's timer asks the store, one read per
   * tenant for every small channel of its connections, and hands over the ones now large.
   */
  async recheck(): Promise<void> {
    const byTenant = new Map<string, Set<string>>();
    for (const w of this.watchers) {
      let ids = byTenant.get(w.tenant);
      if (!ids) {
        ids = new Set();
        byTenant.set(w.tenant, ids);
      }
      for (const c of w.smallChannels()) ids.add(c);
    }
    for (const [tenant, ids] of byTenant) {
      if (ids.size === 0) continue;
      const large = await this.largeAmong(tenant, [...ids]);
      if (large.size === 0) continue;
      for (const w of this.watchers) if (w.tenant === tenant) for (const c of large) w.grown(c);
    }
  }

  /** Large channels this node listens to for hints. */
  get size(): number {
    return this.channels.size;
  }

  /** Connections whose small channels recheck() asks about (tests). */
  get tracked(): number {
    return this.watchers.size;
  }

  /** Member connections hinted for a channel (tests). */
  memberCount(tenant: string, conversation: string): number {
    return this.channels.get(topics.conversation(tenant, conversation))?.members.size ?? 0;
  }

  /**
   * Hints `member` about the channel from now on, until unwatch(); resolves once the room
   * topic is live on this node.
   */
  async watch(tenant: string, conversation: string, member: HintMember): Promise<void> {
    const topic = topics.conversation(tenant, conversation);
    let ch = this.channels.get(topic);
    if (!ch) {
      const c: Channel = {
        conversation,
        members: new Set(),
        ready: Promise.resolve(),
        unlisten: null,
        closed: false,
        seq: 0,
        hinted: 0,
        created: null,
        createdSeq: 0,
        lastHintMs: Number.NEGATIVE_INFINITY,
        timer: null,
      };
      c.ready = this.hub
        .add(topic, (f) => this.onFrame(c, f))
        .then(
          (unlisten) => {
            if (c.closed) unlisten();
            else c.unlisten = unlisten;
          },
          (err) => {
            // A later watch tries the bus again.
            this.close(topic, c);
            throw err;
          },
        );
      this.channels.set(topic, c);
      ch = c;
    }
    const c = ch;
    c.members.add(member);
    try {
      await c.ready;
    } catch (err) {
      c.members.delete(member);
      throw err;
    }
  }

  /** Stops hinting `member` about the channel (the last member's unwatch leaves the topic). */
  unwatch(tenant: string, conversation: string, member: HintMember): void {
    const topic = topics.conversation(tenant, conversation);
    // A member is only in the channel's current entry, or in a closed one (a failed join).
    const c = this.channels.get(topic);
    if (c?.members.delete(member) && c.members.size === 0) this.close(topic, c);
  }

  private close(topic: string, c: Channel): void {
    if (c.closed) return;
    c.closed = true;
    if (this.channels.get(topic) === c) this.channels.delete(topic);
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
    c.unlisten?.();
    c.unlisten = null;
  }

  private onFrame(c: Channel, f: TopicFrame): void {
    if (c.closed || f.type !== 'event' || f.seq === null || f.seq <= c.seq) return;
    c.seq = f.seq;
    // A thread reply (`thread_root`) moves the head but not the preview, as in the store.
    if (f.created && f.created.thread_root == null) {
      c.created = f.created;
      c.createdSeq = f.seq;
    }
    if (f.left) for (const m of c.members) if (f.left.includes(m.user)) m.left(c.conversation);
    if (c.closed || c.timer) return;
    const wait = c.lastHintMs + this.intervalMs - this.now();
    if (wait <= 0) this.flush(c);
    else {
      c.timer = setTimeout(() => this.flush(c), wait);
      c.timer.unref();
    }
  }

  /** One frame for the channel, written to every member connection that is not viewing it. */
  private flush(c: Channel): void {
    c.timer = null;
    if (c.closed || c.seq <= c.hinted) return;
    c.hinted = c.seq;
    c.lastHintMs = this.now();
    const m = c.created;
    c.created = null;
    const frame: ServerFrame = m
      ? {
          type: 'inbox_hint',
          conversation: c.conversation,
          last_seq: c.seq,
          last_activity_at: String(m.created_at),
          last_message: preview(m, c.createdSeq),
        }
      : { type: 'inbox_hint', conversation: c.conversation, last_seq: c.seq };
    const tf = new TopicFrame(
      JSON.stringify(frame),
      'inbox_hint',
      c.conversation,
      c.seq,
      null,
      null,
      null,
      'receipt',
    );
    // The sender of the latest message has a real entry for it (written read): no hint to them.
    const sender = m && c.createdSeq === c.seq ? senderOf(m) : null;
    for (const member of c.members)
      if (member.user !== sender && !member.viewing(c.conversation)) member.hint(tf);
  }

  /** The node is closing: every channel's topic is left. */
  closeAll(): void {
    for (const [topic, c] of [...this.channels]) this.close(topic, c);
  }
}

function senderOf(m: Json): string | null {
  const s = m.sender as Json | undefined;
  return s?.type === 'user' && typeof s.user_id === 'string' ? s.user_id : null;
}

/** The MessagePreview of a created message (as the store's `last_message` has it). */
function preview(m: Json, seq: number): MessagePreview {
  const sender = senderOf(m);
  return {
    message_id: String(m.id),
    seq,
    sender: sender === null ? { type: 'system' } : { type: 'user', user_id: sender },
    body: typeof m.body === 'string' && !m.deleted_at ? previewBody(m.body) : '',
    kind: m.kind as MessageKind,
    created_at: String(m.created_at),
  };
}
