// A connection's conversation subscriptions: replay then live, gapless and duplicate-free,
// repaired from the store when the bus loses messages. Each subscription moves through
// the state table below; a move it does not list is a bug and throws.
import { type ErrorCode, HeraldError, topics } from '../protocol/index.ts';
import type { GatewayCore } from './core.ts';
import type { Outbound } from './outbound.ts';
import type { ResyncTarget } from './ports.ts';
import { type FrameListener, storedEventFrame, type TopicFrame } from './topic-hub.ts';

/**
 * - pending: joining the bus topics and checking access; room frames are buffered;
 * - replaying: the subscribe replay runs; room frames are buffered;
 * - live: room frames go to the client as they come;
 * - resyncing: live to the client, but room frames are buffered while the store fills in
 *   what the bus lost (beginResync);
 * - closed: unsubscribed, refused or the connection went; nothing more happens.
 */
export type RoomState = 'pending' | 'replaying' | 'live' | 'resyncing' | 'closed';

const NEXT: Record<RoomState, readonly RoomState[]> = {
  pending: ['replaying', 'closed'],
  // The bus was lost during the replay: it ends in a resync instead of going live.
  replaying: ['live', 'resyncing', 'closed'],
  live: ['resyncing', 'closed'],
  // Lost again during a resync: one more.
  resyncing: ['live', 'resyncing', 'closed'],
  closed: [],
};

/**
 * One subscription. It listens to the room topic itself and to the ephemeral topic through
 * `ephemeral`: objects the hub calls, not closures made per subscription.
 */
export class Room implements FrameListener {
  state: RoomState = 'pending';
  lastSeq = 0;
  /** The seq at which membership was confirmed: a `left` of this user at or below it is history. */
  memberAt = 0;
  /** The bus was lost while this subscription was not live: resync it as soon as it is. */
  resyncAgain = false;
  /** Room frames held while not live (made when the first one comes). */
  buffer: TopicFrame[] | null = null;
  /** Typing (signals.ts): the last `typing` published here, for the per-interval throttle. */
  lastTypingMs = Number.NEGATIVE_INFINITY;
  /** Presence is exchanged in rooms up to presenceSnapshotMax members only: it costs O(members²). */
  presence = false;
  readonly ephemeral: EphemeralListener;

  constructor(
    readonly conversation: string,
    private readonly rooms: Rooms,
  ) {
    this.ephemeral = new EphemeralListener(this, rooms);
  }

  /** A frame of the room topic. */
  topicFrame(f: TopicFrame): void {
    this.rooms.roomFrame(this, f);
  }
}

/** A room's ephemeral topic (typing, presence). */
class EphemeralListener implements FrameListener {
  constructor(
    private readonly room: Room,
    private readonly rooms: Rooms,
  ) {}

  topicFrame(f: TopicFrame): void {
    this.rooms.ephemeralFrame(this.room, f);
  }
}

/** Moves a subscription along the table; any other move is a bug. */
export function moveRoom(room: Room, to: RoomState): void {
  if (!NEXT[room.state].includes(to))
    throw new Error(`subscription ${room.conversation}: ${room.state} → ${to} is not a move`);
  room.state = to;
}

/** Live to the client (resyncing buffers room frames only). */
export const isLive = (room: Room | undefined) => room?.state === 'live' || room?.state === 'resyncing';

/** Who the subscriptions are for, and what happens once one is live (presence). */
export interface RoomsOwner {
  readonly tenant: string;
  readonly user: string;
  /** A subscription went live and was announced; memberCount: the conversation's members. */
  subscribed(conversation: string, memberCount: number): Promise<void>;
}

export class Rooms {
  private readonly subs = new Map<string, Room>();

  constructor(
    private readonly core: GatewayCore,
    private readonly owner: RoomsOwner,
    private readonly out: Outbound,
  ) {}

  get size(): number {
    return this.subs.size;
  }

  get(conversation: string): Room | undefined {
    return this.subs.get(conversation);
  }

  values(): IterableIterator<Room> {
    return this.subs.values();
  }

  private current(room: Room): boolean {
    return this.subs.get(room.conversation) === room && !this.out.isClosed;
  }

  /**
   * Subscribe with replay: join the bus topic FIRST and buffer what arrives, check access
   * and replay (since, head] from the events table in one read, then flush the buffer
   * dropping seq <= last replayed. Any event is either published after the
   * bus subscription (live) or committed before the replay query (replayed):
   * no hole, and the seq filter removes the overlap.
   */
  async subscribe(conversation: string, since: number | undefined): Promise<void> {
    const { core, owner, out } = this;
    const prev = this.subs.get(conversation);
    if (prev) this.drop(prev);
    else if (this.subs.size >= core.opts.maxSubscriptions) {
      throw new HeraldError(
        'VALIDATION_FAILED',
        `At most ${core.opts.maxSubscriptions} subscriptions per connection.`,
      );
    }
    const sub = new Room(conversation, this);
    this.subs.set(conversation, sub);
    try {
      // The bus topics first, the store after: one read then checks access and replays, from
      // one snapshot (a round trip per subscribe saved: a connect storm is mostly subscribes).
      // Until access is confirmed room frames are only buffered (roomFrame), and a refusal drops them.
      await core.hub.listen(topics.conversation(owner.tenant, conversation), sub);
      await core.hub.listen(topics.ephemeral(owner.tenant, conversation), sub.ephemeral);
      if (!this.current(sub)) return this.drop(sub);

      const limit = core.opts.deps.limits.replayLimit;
      const catchupStart = performance.now();
      const read = await core.subscribeRead(owner.tenant, conversation, owner.user, since ?? null, limit);
      if (!read) throw new HeraldError('CONVERSATION_NOT_FOUND');
      const { access, replay } = read;
      if (!access.allowed) throw new HeraldError('NOT_A_MEMBER');
      if (!this.current(sub)) return this.drop(sub);
      moveRoom(sub, 'replaying');
      // Membership and the replay come from one snapshot: a `left` of this user at or below the
      // head is history (they were re-added since), one above it ends the subscription.
      sub.memberAt = access.head;
      if (since !== undefined && since > replay.head) {
        throw new HeraldError('INVALID_SEQ', `since_seq ${since} is beyond the head (${replay.head}).`);
      }
      const lastReplayed = replay.events.length
        ? replay.events[replay.events.length - 1].seq
        : (since ?? replay.head);
      out.send({
        type: 'subscribed',
        conversation,
        head_seq: replay.head,
        replayed: replay.events.length,
        complete: since === undefined || lastReplayed >= replay.head,
      });
      sub.lastSeq = since ?? replay.head;
      for (const e of replay.events) {
        // Replay is paced by the reader: a long replay of large events must not
        // look like a slow consumer, so it waits for the queue to drain.
        if (out.wouldPass(e.frame.length) && !(await out.paced())) return;
        if (!this.current(sub)) return this.drop(sub);
        // Through deliver(), like a live frame: a replayed `left` of this user ends the
        // subscription (its live copy is dropped later as a duplicate, before any check).
        this.deliver(sub, storedEventFrame(conversation, e.seq, e.frame));
        if (!this.current(sub)) return;
      }
      core.metrics.record({ name: 'replay', events: replay.events.length });
      if (since !== undefined) {
        const seconds = (performance.now() - catchupStart) / 1000;
        core.metrics.record({ name: 'catchup', kind: 'subscribe', events: replay.events.length, seconds });
      }
      sub.lastSeq = Math.max(sub.lastSeq, lastReplayed);
      this.goLive(sub);
      // The subscription is live and announced: a failed presence snapshot (best effort) must
      // not end it — the client would hold a subscription the gateway no longer serves.
      if (this.current(sub))
        await owner
          .subscribed(conversation, access.member_count)
          .catch((err) => core.opts.log?.warn({ err, conversation }, 'presence snapshot failed'));
    } catch (err) {
      if (this.subs.get(conversation) === sub) this.drop(sub);
      throw err;
    }
  }

  /**
   * The bus lost messages (it reconnected). Every live subscription starts buffering its
   * room frames now — all of them synchronously, before anything is awaited, so none can
   * advance its lastSeq past the loss on a fresh live frame. The core's resync then reads
   * the store once per conversation and offers the events to each target (deliver():
   * seq filter and `left` check), and finish() flushes the buffer: the same no-hole,
   * no-duplicate switch as subscribe. Subscriptions not live yet resync once they are.
   */
  beginResync(): ResyncTarget[] {
    if (this.out.isClosed) return [];
    const targets: ResyncTarget[] = [];
    for (const sub of this.subs.values()) {
      if (sub.state === 'live') {
        moveRoom(sub, 'resyncing');
        targets.push(this.resyncTarget(sub));
      } else {
        sub.resyncAgain = true;
      }
    }
    return targets;
  }

  private resyncTarget(sub: Room): ResyncTarget {
    return {
      tenant: this.owner.tenant,
      conversation: sub.conversation,
      get since() {
        return sub.lastSeq;
      },
      offer: (frames) => {
        for (const f of frames) {
          if (!this.current(sub)) return false;
          this.deliver(sub, f);
        }
        return this.current(sub);
      },
      finish: () => this.goLive(sub),
    };
  }

  /**
   * Ends a replay or a resync: flushes the room frames buffered meanwhile (the seq filter
   * drops what was already written). If the bus was lost during it, resyncs again first.
   */
  private goLive(sub: Room): void {
    if (!this.current(sub)) return;
    if (sub.resyncAgain) {
      sub.resyncAgain = false;
      moveRoom(sub, 'resyncing');
      void this.core.resync([this.resyncTarget(sub)]);
      return;
    }
    moveRoom(sub, 'live');
    const buffered = sub.buffer;
    sub.buffer = null;
    if (!buffered) return;
    for (const f of buffered) {
      if (!this.current(sub)) break;
      this.deliver(sub, f);
    }
  }

  /** A frame of a subscription's room topic (Room.topicFrame): buffered until live. */
  roomFrame(sub: Room, f: TopicFrame): void {
    if (sub.state === 'live') this.deliver(sub, f);
    else {
      sub.buffer ??= [];
      sub.buffer.push(f);
    }
  }

  /** A frame of a subscription's ephemeral topic: typing and presence, once live (not one's own typing). */
  ephemeralFrame(sub: Room, f: TopicFrame): void {
    if (!isLive(sub) || (f.type === 'typing' && f.userId === this.owner.user)) return;
    this.out.emit(f, null);
  }

  /** A live room frame: events are filtered by seq (idempotent: at-least-once bus). */
  private deliver(sub: Room, f: TopicFrame): void {
    if (f.type === 'event' && f.seq !== null) {
      if (f.seq <= sub.lastSeq) return;
      sub.lastSeq = f.seq;
      this.out.emit(f, { conversation: sub.conversation, seq: f.seq });
      // Losing membership ends the subscription after the `left` event itself. A `left` at or
      // below the seq where membership was confirmed is history: the user was re-added since.
      if (f.seq > sub.memberAt && f.left?.includes(this.owner.user))
        this.unsubscribe(sub.conversation, 'NOT_A_MEMBER');
      return;
    }
    this.out.emit(f, null);
  }

  unsubscribe(conversation: string, code: ErrorCode | 'UNSUBSCRIBED'): void {
    const sub = this.subs.get(conversation);
    if (sub) this.drop(sub);
    this.out.send({ type: 'unsubscribed', conversation, code });
  }

  private drop(sub: Room): void {
    // Left even when closed already: a topic whose join was pending at the close is left here.
    const { hub } = this.core;
    hub.unlisten(topics.conversation(this.owner.tenant, sub.conversation), sub);
    hub.unlisten(topics.ephemeral(this.owner.tenant, sub.conversation), sub.ephemeral);
    if (sub.state === 'closed') return;
    if (this.subs.get(sub.conversation) === sub) this.subs.delete(sub.conversation);
    sub.buffer = null;
    moveRoom(sub, 'closed');
  }

  /** The connection is closing: every subscription ends. */
  dropAll(): void {
    for (const sub of [...this.subs.values()]) this.drop(sub);
  }
}
