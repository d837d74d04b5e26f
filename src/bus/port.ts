// The bus port. Payloads are serialized frames (strings): serialized once by
// the relay, written as-is to every local socket.

export interface BusMessage {
  topic: string;
  payload: string;
}

export type BusHandler = (payload: string, topic: string) => void;

export interface Bus {
  readonly kind: 'memory' | 'redis';
  publish(topic: string, payload: string): Promise<void>;
  /**
   * Publishes many messages in order, in one round trip where the bus allows it (the relay's
   * batches). Resolves with one entry per message: null when published, the error otherwise;
   * rejects only when nothing could be sent.
   */
  publishMany(messages: readonly BusMessage[]): Promise<(Error | null)[]>;
  /** Subscribes a handler; returns its unsubscribe function. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>;
  /**
   * Called after the bus lost its connection and got it back: anything
   * published meanwhile is gone (pub/sub is fire-and-forget), so subscribers
   * repair from the store. Returns an unregister function.
   */
  onResync(listener: () => void): () => void;
  /** Whether the bus can deliver right now (readiness). */
  healthy(): boolean;
  close(): Promise<void>;
}

/** publishMany for a bus without pipelining: one publish after another, each failure kept. */
export function publishOneByOne(publish: Bus['publish']): Bus['publishMany'] {
  return async (messages) => {
    const out: (Error | null)[] = [];
    for (const m of messages) {
      try {
        await publish(m.topic, m.payload);
        out.push(null);
      } catch (err) {
        out.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return out;
  };
}
