// The bus port. Payloads are serialized frames (strings): serialized once by
// the relay, written as-is to every local socket.

export type BusHandler = (payload: string, topic: string) => void;

export interface Bus {
  readonly kind: 'memory' | 'redis';
  publish(topic: string, payload: string): Promise<void>;
  /** Subscribes a handler; returns its unsubscribe function. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
