// The bus port. Payloads are serialized frames (strings): serialized once by
// the relay, written as-is to every local socket.

export type BusHandler = (payload: string, topic: string) => void;

export interface Bus {
  readonly kind: 'memory' | 'redis';
  publish(topic: string, payload: string): Promise<void>;
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
