// What this device tells the server about itself, and what it knows of others:
// its status and resource (heartbeats), the conversation on screen (`view`),
// and the rooms' presence (the subscribe snapshot merged with every delta).
import type { ClientFrame, PresenceEntry, PresenceStatus } from '../protocol/frames.ts';
import type { NamedTimers } from './named-timers.ts';
import type { FlushContext, FlushLane } from './paced-flush.ts';

export interface PresenceDeps {
  timers: NamedTimers;
  write(frame: ClientFrame): boolean;
  /** Send `heartbeat` on connect and every welcome.heartbeat_ms (option `heartbeat`). */
  heartbeats: boolean;
  retryDelay(attempt: number): number;
  /** A check that the connection is still on the socket it was on when called. */
  sameSocket(): () => boolean;
  flush(): void;
}

export class Presence implements FlushLane {
  /** room ('' = the user-level roster) → user_id + device_id → the device's latest entry. */
  private readonly byRoom = new Map<string, Map<string, PresenceEntry>>();
  private status: PresenceStatus = 'active';
  private resource: string | undefined;
  private _viewing: string | null = null;
  /** The `view` to restate on this connection, after its subscribes. */
  private viewPending = false;
  private viewRetries = 0;

  constructor(private readonly deps: PresenceDeps) {}

  /** The conversation on screen, or null. */
  get viewing(): string | null {
    return this._viewing;
  }

  /** Devices present in a room (null: the user-level roster). */
  entries(conversation: string | null): PresenceEntry[] {
    const room = this.byRoom.get(conversation ?? '');
    return room ? [...room.values()] : [];
  }

  /** Applies a snapshot or a batch of deltas: entries replace per device, `offline` removes. */
  merge(room: string, entries: PresenceEntry[]): void {
    let devices = this.byRoom.get(room);
    if (!devices) {
      devices = new Map();
      this.byRoom.set(room, devices);
    }
    for (const p of entries) {
      const key = `${p.user_id}\u0000${p.device_id}`;
      if (p.status === 'offline') devices.delete(key);
      else devices.set(key, p);
    }
  }

  /** The room was left: what we held of it is stale. */
  forget(room: string): void {
    this.byRoom.delete(room);
  }

  /** A new connection: the server sends a snapshot on each subscribe, what we held may be stale. */
  resume(): void {
    this.byRoom.clear();
    this.viewPending = this._viewing !== null;
    this.viewRetries = 0;
  }

  /** The socket is gone: the next welcome restates the view. */
  detached(): void {
    this.viewPending = false;
    this.deps.timers.clear('heartbeat');
    this.deps.timers.clear('view');
  }

  setStatus(status: PresenceStatus, resource?: string): void {
    this.status = status;
    if (resource !== undefined) this.resource = resource;
  }

  heartbeatFrame(): ClientFrame {
    return this.resource === undefined
      ? { type: 'heartbeat', status: this.status }
      : { type: 'heartbeat', status: this.status, resource: this.resource };
  }

  startHeartbeat(intervalMs: number): void {
    if (!this.deps.heartbeats) return;
    this.deps.write(this.heartbeatFrame());
    if (!(intervalMs > 0)) return;
    const tick = () => {
      this.deps.write(this.heartbeatFrame());
      this.deps.timers.set('heartbeat', intervalMs, tick);
    };
    this.deps.timers.set('heartbeat', intervalMs, tick);
  }

  /** Sets the conversation on screen; when connected, it goes now (or with the resume's flush). */
  view(conversation: string | null, connected: boolean): void {
    this._viewing = conversation;
    if (!connected) return;
    if (this.viewPending)
      this.deps.flush(); // the resume has not restated the view yet: it will, this one
    else this.deps.write({ type: 'view', conversation });
  }

  /** A `view` refused for now: state it again after a backoff (the server answers nothing on success). */
  restateLater(): void {
    const same = this.deps.sameSocket();
    this.deps.timers.set('view', this.deps.retryDelay(this.viewRetries++), () => {
      if (!same() || this._viewing === null) return;
      this.viewPending = true;
      this.deps.flush();
    });
  }

  drain(ctx: FlushContext): boolean {
    if (!this.viewPending) return true;
    if (!ctx.mayWrite(false)) return false;
    this.viewPending = false;
    ctx.write({ type: 'view', conversation: this._viewing });
    return true;
  }
}
