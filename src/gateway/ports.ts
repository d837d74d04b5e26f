// The gateway's inner seams, as types only: what a transport gives a session (Sink), who
// a session is (SessionIdentity), and what the node-wide core sees of a session (CoreSession,
// ResyncTarget). They live below both core.ts and session.ts, so neither imports the other
// back: the core keeps sets of sessions without knowing the class.
import type { TopicFrame } from './topic-hub.ts';

/**
 * Where a session's frames go (src/gateway/writer.ts queues and batches them). `cursor`
 * marks event frames (SSE uses it for Last-Event-ID).
 */
export interface Sink {
  readonly transport: 'ws' | 'sse';
  /** A frame: shared by a topic's sessions (`frame`, rendered once per transport) or this session's own. */
  write(text: string, frame: TopicFrame | null, cursor: { conversation: string; seq: number } | null): void;
  /** A control frame written ahead of the queued frames (behind the bytes in flight only). */
  urgent(text: string): void;
  /** Bytes accepted but not yet handed to the kernel. */
  bufferedAmount(): number;
  /** Ends the connection with a close code after the queued frames (SSE: ends the stream). */
  close(code: number, reason: string): void;
  /**
   * Ends the connection now: drops the queued frames and sends the close reason ahead of
   * them, so a reader that is behind learns why it was cut. Returns the bytes dropped.
   */
  cut(code: number, reason: string): number;
}

export interface SessionIdentity {
  id: string;
  tenant: string;
  user: string;
  device: string;
  /** Token expiry, ms since the epoch. */
  expiresMs: number;
}

/**
 * One live subscription being repaired after the bus lost messages. The core's resync
 * reads the store once per conversation and offers the events to every target of it;
 * each keeps only what is past its own lastSeq.
 */
export interface ResyncTarget {
  readonly tenant: string;
  readonly conversation: string;
  /** Events after this seq are wanted. */
  readonly since: number;
  /** Events read from the store, in seq order. False once the subscription is gone. */
  offer(frames: readonly TopicFrame[]): boolean;
  /** Back to live: flushes the room frames buffered meanwhile. */
  finish(): void;
}

/** What the core's timers and the bus-loss repair need of a session (session.ts implements it). */
export interface CoreSession {
  readonly id: string;
  readonly tenant: string;
  readonly sink: Sink;
  /** The bus lost messages: every live subscription starts buffering; the targets to repair. */
  beginResync(): ResyncTarget[];
  /** Called by the maintenance tick while degraded: true once the queue has drained. */
  checkRecovered(): boolean;
}
