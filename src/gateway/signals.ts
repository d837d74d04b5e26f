// A connection's ephemeral signals: presence (heartbeats, the snapshot on subscribe),
// typing and what the user is viewing. Straight onto the bus and the registries, never
// PostgreSQL; the node-wide presence batching is presence-batch.ts.
import {
  HeraldError,
  type PresenceEntry,
  type PresenceStatus,
  type ServerFrame,
  topics,
} from '../protocol/index.ts';
import type { GatewayCore } from './core.ts';
import type { Outbound } from './outbound.ts';
import type { SessionIdentity } from './ports.ts';
import { isLive, type Rooms } from './rooms.ts';

/** Records `user` typing and tells the room (the frame and POST …/typing alike). */
export async function publishTyping(
  core: GatewayCore,
  tenant: string,
  conversation: string,
  user: string,
  now: number,
): Promise<void> {
  await core.typing.set(tenant, conversation, user, now);
  // Ephemeral: straight onto the bus, never PostgreSQL.
  const frame: ServerFrame = { type: 'typing', conversation, user_id: user, ttl_ms: core.typing.ttlMs };
  await core.opts.bus.publish(topics.ephemeral(tenant, conversation), JSON.stringify(frame));
}

export class Signals {
  private status: PresenceStatus = 'active';
  private resource: string | null = null;
  private viewing: string | null = null;

  constructor(
    private readonly core: GatewayCore,
    private readonly who: Pick<SessionIdentity, 'tenant' | 'user' | 'device'>,
    private readonly rooms: Rooms,
    private readonly out: Outbound,
  ) {}

  private entry(nowMs: number): PresenceEntry {
    return {
      user_id: this.who.user,
      device_id: this.who.device,
      status: this.status,
      resource: this.resource,
      last_seen_ms: nowMs,
    };
  }

  async heartbeat(status: PresenceStatus | undefined, resource: string | undefined): Promise<void> {
    const { core, who } = this;
    const now = core.opts.now();
    if (status) this.status = status;
    if (resource !== undefined) this.resource = resource;
    const { changed } = await core.presence.heartbeat(
      who.tenant,
      who.user,
      who.device,
      this.status,
      this.resource,
      now,
    );
    if (changed) {
      for (const sub of this.rooms.values())
        if (isLive(sub) && sub.presence)
          core.presenceBatch.queue(who.tenant, sub.conversation, this.entry(now));
    }
    // Keep the viewing registry's TTL alive while the client heartbeats.
    if (this.viewing) await core.opts.deps.viewing.set(who.tenant, who.user, who.device, this.viewing);
  }

  /** A subscription went live: announce this device there and send the room's presence. */
  async subscribed(conversation: string, memberCount: number): Promise<void> {
    const { core, who } = this;
    // Large rooms get no presence at all: every heartbeat would go to every member.
    if (memberCount > core.opts.presenceSnapshotMax) return;
    const sub = this.rooms.get(conversation);
    if (sub) sub.presence = true;
    core.presenceBatch.queue(who.tenant, conversation, this.entry(core.opts.now()));
    const entries = await core.presenceBatch.snapshot(who.tenant, conversation);
    if (entries.length > 0 && isLive(this.rooms.get(conversation))) {
      this.out.send({ type: 'presence', conversation, entries }, 'presence');
    }
  }

  async typing(conversation: string): Promise<void> {
    const { core, who } = this;
    const sub = this.rooms.get(conversation);
    if (!sub || !isLive(sub))
      throw new HeraldError('BAD_REQUEST', 'Subscribe to the conversation before typing.');
    const now = core.opts.now();
    if (now - sub.lastTypingMs < core.opts.typingIntervalMs) return;
    sub.lastTypingMs = now;
    await publishTyping(core, who.tenant, conversation, who.user, now);
  }

  /** A sent message ends the typing burst: the next keystroke must announce itself at once. */
  typingEnded(conversation: string): void {
    const sub = this.rooms.get(conversation);
    if (sub) sub.lastTypingMs = Number.NEGATIVE_INFINITY;
  }

  async view(conversation: string | null): Promise<void> {
    const { core, who } = this;
    if (conversation !== null && !isLive(this.rooms.get(conversation))) {
      const access = await core.access(who.tenant, conversation, who.user);
      if (!access) throw new HeraldError('CONVERSATION_NOT_FOUND');
      if (!access.allowed) throw new HeraldError('NOT_A_MEMBER');
    }
    this.viewing = conversation;
    await core.opts.deps.viewing.set(who.tenant, who.user, who.device, conversation);
  }

  /** What the connection views, as last told (large-channel hints skip it: the entry is written). */
  isViewing(conversation: string): boolean {
    return this.viewing === conversation;
  }

  /** The connection is gone: it views nothing any more (presence is left to age out). */
  async gone(): Promise<void> {
    const { core, who } = this;
    if (this.viewing) await core.opts.deps.viewing.set(who.tenant, who.user, who.device, null);
  }
}
