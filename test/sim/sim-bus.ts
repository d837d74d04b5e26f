// A Bus-port implementation whose deliveries the scheduler controls. One SimBroker stands for
// Redis; each node holds a SimBusConn (its connection). publish() enqueues one delivery per
// node subscribed to the topic at that moment (pub/sub: later subscribers never see it); the
// scheduler then delivers any queued message (in order, or out of order), drops it, or
// delivers it and keeps a copy (a duplicate). A connection can be lost: whatever was queued
// for it and everything published meanwhile is gone, its own publishes fail, and on
// reconnect it raises onResync — as the Redis adapter does after ioredis resubscribes.
import type { Bus, BusHandler, BusMessage } from '../../src/bus/port.ts';

export interface Delivery {
  readonly id: number;
  readonly topic: string;
  readonly payload: string;
}

export class SimBroker {
  readonly conns = new Set<SimBusConn>();
  private nextId = 1;
  /** Set by the scheduler: decides whether a publish fails (the relay then retries). */
  publishFault: (topic: string) => boolean = () => false;

  publish(topic: string, payload: string): void {
    for (const c of this.conns) {
      if (c.connected && c.handlers.has(topic)) c.queue.push({ id: this.nextId++, topic, payload });
    }
  }
}

export class SimBusConn implements Bus {
  readonly kind = 'redis' as const;
  readonly handlers = new Map<string, Set<BusHandler>>();
  /** Published, not yet delivered to this node. */
  queue: Delivery[] = [];
  connected = true;
  private closed = false;
  private readonly resync = new Set<() => void>();

  constructor(
    private readonly broker: SimBroker,
    readonly node: string,
  ) {
    broker.conns.add(this);
  }

  async publish(topic: string, payload: string): Promise<void> {
    if (this.closed || !this.connected) throw new Error(`sim: bus connection of ${this.node} is down`);
    if (this.broker.publishFault(topic)) throw new Error('sim: publish failed');
    this.broker.publish(topic, payload);
  }

  /** One message after another, each failure kept (the relay's batches, deterministically). */
  async publishMany(messages: readonly BusMessage[]): Promise<(Error | null)[]> {
    const out: (Error | null)[] = [];
    for (const m of messages) {
      try {
        await this.publish(m.topic, m.payload);
        out.push(null);
      } catch (err) {
        out.push(err as Error);
      }
    }
    return out;
  }

  async subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>> {
    let set = this.handlers.get(topic);
    if (!set) {
      set = new Set();
      this.handlers.set(topic, set);
    }
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0 && this.handlers.get(topic) === set) this.handlers.delete(topic);
    };
  }

  onResync(listener: () => void): () => void {
    this.resync.add(listener);
    return () => this.resync.delete(listener);
  }

  healthy(): boolean {
    return this.connected && !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue = [];
    this.broker.conns.delete(this);
  }

  /** Hands queued message `index` to this node's handlers; `keep` leaves a copy queued (duplicate). */
  deliver(index: number, keep: boolean): Delivery {
    const d = this.queue[index];
    if (!keep) this.queue.splice(index, 1);
    for (const h of [...(this.handlers.get(d.topic) ?? [])]) {
      try {
        h(d.payload, d.topic);
      } catch {
        // As the real adapters: one failing subscriber must not stop the others.
      }
    }
    return d;
  }

  drop(index: number): Delivery {
    return this.queue.splice(index, 1)[0];
  }

  /** The connection to the broker is lost: queued messages and everything published meanwhile are gone. */
  lose(): void {
    this.connected = false;
    this.queue = [];
  }

  /** Back: subscriptions are restored (ioredis resubscribes) and subscribers repair from the store. */
  restore(): void {
    if (this.connected || this.closed) return;
    this.connected = true;
    for (const l of [...this.resync]) l();
  }
}
