// One connection's large-channel memberships, for inbox hints (inbox-hints.ts). Loaded once at
// connect (one read: every channel membership of the user, and which are large), then kept
// current from the personal room: an `inbox` entry of a channel this connection did not know is
// a join (one access read says whether the channel is large), a tombstone is a leave; a large
// channel's own `left` event ends its hints too. A channel that grows past the threshold while
// the connection is open is found by the node's periodic check (InboxHints.recheck).
import type { GatewayCore } from './core.ts';
import type { GrowthWatcher, HintMember } from './inbox-hints.ts';
import type { Outbound } from './outbound.ts';
import type { TopicFrame } from './topic-hub.ts';

export class MemberHints implements HintMember, GrowthWatcher {
  /** Channel memberships known to this connection: conversation → large. */
  private readonly known = new Map<string, boolean>();
  /** Large channels hinted: whether the topic is joined (false while it is being joined). */
  private readonly watched = new Map<string, boolean>();
  /** Personal-room inbox frames that came while the memberships were loading. */
  private pending: TopicFrame[] | null = [];
  private stopped = false;
  private tracked = false;

  constructor(
    private readonly core: GatewayCore,
    private readonly who: { readonly tenant: string; readonly user: string },
    /** What this connection views (signals.ts). */
    private readonly viewer: { isViewing(conversation: string): boolean },
    private readonly out: Outbound,
  ) {}

  get user(): string {
    return this.who.user;
  }

  get tenant(): string {
    return this.who.tenant;
  }

  /** Loads the memberships and joins the large channels' topics (the personal room is joined). */
  async start(): Promise<void> {
    const { core, who } = this;
    const threshold = core.opts.deps.limits.largeChannelThreshold;
    const rows = await core.connection.channelMemberships(who.tenant, who.user, threshold);
    if (this.stopped) return;
    for (const r of rows) this.known.set(r.conversation, r.large);
    core.hints.track(this);
    this.tracked = true;
    await Promise.all(rows.filter((r) => r.large).map((r) => this.watch(r.conversation)));
    const pending = this.pending ?? [];
    this.pending = null;
    for (const f of pending) this.personal(f);
  }

  /** A frame of the personal room: joins and leaves of channels. */
  personal(f: TopicFrame): void {
    const head = f.inbox;
    if (this.stopped || !head || head.kind !== 'channel') return;
    if (this.pending) {
      this.pending.push(f);
      return;
    }
    const conversation = head.conversation;
    if (head.removed) this.left(conversation);
    else if (!this.known.has(conversation)) {
      this.known.set(conversation, false);
      void this.classify(conversation);
    }
  }

  /** A channel joined since connect: hinted when it is large. */
  private async classify(conversation: string): Promise<void> {
    const { core, who } = this;
    try {
      const a = await core.access(who.tenant, conversation, who.user);
      if (this.stopped || this.known.get(conversation) !== false) return;
      if (!a?.allowed) {
        this.known.delete(conversation);
        return;
      }
      const large = a.member_count > core.opts.deps.limits.largeChannelThreshold;
      this.known.set(conversation, large);
      if (large) await this.watch(conversation);
    } catch (err) {
      // Unknown again: the channel's next inbox frame asks once more.
      this.known.delete(conversation);
      core.opts.log?.warn({ err, conversation }, 'large-channel check failed');
    }
  }

  private async watch(conversation: string): Promise<void> {
    if (this.stopped || this.watched.has(conversation)) return;
    this.watched.set(conversation, false);
    try {
      await this.core.hints.watch(this.who.tenant, conversation, this);
    } catch (err) {
      this.watched.delete(conversation);
      this.core.opts.log?.warn({ err, conversation }, 'large-channel hints failed');
      return;
    }
    // Left (or the connection went) while the topic was being joined.
    if (this.stopped || !this.watched.has(conversation)) this.unwatch(conversation);
    else this.watched.set(conversation, true);
  }

  private unwatch(conversation: string): void {
    this.core.hints.unwatch(this.who.tenant, conversation, this);
  }

  viewing(conversation: string): boolean {
    return this.viewer.isViewing(conversation);
  }

  hint(frame: TopicFrame): void {
    this.out.emit(frame, null);
  }

  left(conversation: string): void {
    this.known.delete(conversation);
    const joined = this.watched.get(conversation);
    this.watched.delete(conversation);
    if (joined) this.unwatch(conversation);
  }

  *smallChannels(): Iterable<string> {
    for (const [conversation, large] of this.known) if (!large) yield conversation;
  }

  grown(conversation: string): void {
    if (this.stopped || this.known.get(conversation) !== false) return;
    this.known.set(conversation, true);
    void this.watch(conversation);
  }

  /** The connection is closing: no more hints. */
  stop(): void {
    this.stopped = true;
    if (this.tracked) this.core.hints.untrack(this);
    this.tracked = false;
    this.pending = null;
    for (const [conversation, joined] of this.watched) if (joined) this.unwatch(conversation);
    this.watched.clear();
  }

  /** Large channels hinted on this connection (tests). */
  get size(): number {
    return this.watched.size;
  }
}
