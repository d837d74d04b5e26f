// The node's presence traffic: deltas queued per room and published about once per
// presenceFlushMs, stale devices aged out (announced offline where they were announced),
// and the snapshot a room's new subscribers share.
import type { ConnectionReader } from '../domain/read-ports.ts';
import type { PresenceEntry, ServerFrame } from '../protocol/index.ts';
import { topics } from '../protocol/index.ts';
import type { PresenceStore } from '../registry/ports.ts';
import type { ResolvedOptions } from './options.ts';

export class PresenceBatch {
  private readonly pending = new Map<
    string,
    { tenant: string; conversation: string; entries: Map<string, PresenceEntry> }
  >();
  /** tenant → device → rooms its presence was announced in (to announce it offline there). */
  private readonly announced = new Map<string, Map<string, Set<string>>>();
  /** Presence snapshots shared by a room's new subscribers, by ephemeral topic (snapshot()). */
  private readonly snapshots = new Map<string, Promise<PresenceEntry[]>>();

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly presence: PresenceStore,
    private readonly reads: Pick<ConnectionReader, 'memberIds'>,
  ) {}

  /** Queues a presence delta for a room; flushed about once per presenceFlushMs. */
  queue(tenant: string, conversation: string, entry: PresenceEntry): void {
    const key = `${tenant}\0${conversation}`;
    let room = this.pending.get(key);
    if (!room) {
      room = { tenant, conversation, entries: new Map() };
      this.pending.set(key, room);
    }
    const dev = `${entry.user_id}\0${entry.device_id}`;
    room.entries.set(dev, entry);
    if (entry.status === 'offline') return;
    let devices = this.announced.get(tenant);
    if (!devices) {
      devices = new Map();
      this.announced.set(tenant, devices);
    }
    let rooms = devices.get(dev);
    if (!rooms) {
      rooms = new Set();
      devices.set(dev, rooms);
    }
    rooms.add(conversation);
  }

  /** Ages out stale devices (announcing them offline), then publishes one frame per room. */
  async flush(): Promise<void> {
    const now = this.opts.now();
    for (const [tenant, devices] of this.announced) {
      const gone = await this.presence.ageOut(tenant, now);
      for (const d of gone) {
        const dev = `${d.user_id}\0${d.device_id}`;
        const rooms = devices.get(dev);
        devices.delete(dev);
        for (const conversation of rooms ?? []) {
          this.queue(tenant, conversation, {
            ...d,
            status: 'offline',
            resource: null,
            last_seen_ms: now,
          });
        }
      }
      if (devices.size === 0) this.announced.delete(tenant);
    }
    const rooms = [...this.pending.values()];
    this.pending.clear();
    for (const r of rooms) {
      const frame: ServerFrame = {
        type: 'presence',
        conversation: r.conversation,
        entries: [...r.entries.values()],
      };
      await this.opts.bus.publish(topics.ephemeral(r.tenant, r.conversation), JSON.stringify(frame));
    }
  }

  /** Present devices of a conversation's members (up to presenceSnapshotMax members). */
  async of(tenant: string, conversation: string): Promise<PresenceEntry[]> {
    const members = await this.reads.memberIds(tenant, conversation, this.opts.presenceSnapshotMax);
    return this.presence.list(tenant, members, this.opts.now());
  }

  /**
   * The presence snapshot a subscriber gets, shared by every subscriber of the room until the
   * room's next presence frame passes through this node (or presenceFlushMs at most). Without
   * it, N members joining a room cost N member lists and N presence reads: O(N²) for a room
   * (a 500-member room's connect storm read 250,000 rows). Sharing loses nothing: a change
   * after the snapshot was read is queued for the room's next presence frame, which evicts the
   * snapshot when it passes here — so whoever subscribes after that frame reads afresh, and
   * whoever subscribed before it receives the frame live.
   */
  snapshot(tenant: string, conversation: string): Promise<PresenceEntry[]> {
    const key = topics.ephemeral(tenant, conversation);
    const hit = this.snapshots.get(key);
    if (hit) return hit;
    const p = this.of(tenant, conversation);
    this.snapshots.set(key, p);
    const evict = () => {
      if (this.snapshots.get(key) === p) this.snapshots.delete(key);
    };
    p.catch(evict);
    setTimeout(evict, this.opts.presenceFlushMs).unref();
    return p;
  }

  /** A frame of the room's ephemeral topic passed through this node: the next subscriber reads afresh. */
  evict(topic: string): void {
    this.snapshots.delete(topic);
  }
}
