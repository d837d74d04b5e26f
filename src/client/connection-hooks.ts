// What the connection (connection.ts) takes and tells: its dependencies and the hooks the
// layer above (client-core.ts) gives it. Types only.
import type { ServerFrame } from '../protocol/frames.ts';
import type { HeraldClientError } from './errors.ts';
import type { HeraldHttp } from './http.ts';
import type { NamedTimers } from './named-timers.ts';
import type { HeraldClientEvents, HeraldClientOptions, StateChange, WelcomeInfo } from './options.ts';
import type { WebSocketConstructor } from './socket.ts';
import type { TokenKeeper } from './token-keeper.ts';
import type { StreamPosition } from './transport-switch.ts';

/** The frames the connection answers itself; every other frame goes to `hooks.frame`. */
export type ConnectionFrameType = 'welcome' | 'token_expiring' | 'drain' | 'pong';
export type SessionFrame = Exclude<ServerFrame, { type: ConnectionFrameType }>;

/** What the layer above hears from the connection, in the order it happens. */
export interface ConnectionHooks {
  frame(frame: SessionFrame): void;
  /** A welcome: the socket is writable; restate what this connection must carry. Before `connected`. */
  welcomed(info: WelcomeInfo): void;
  /** After the move to `connected` that a welcome makes. */
  connected(info: WelcomeInfo): void;
  /** The socket is given up or closed: what it carried unconfirmed must go again on the next one. */
  detached(): void;
  /** The connection stops (disconnect() or a permanent close), before it says `disconnected`. */
  halting(): void;
  /** After it said `disconnected` (and reported why, for a permanent close). */
  stopped(err: HeraldClientError): void;
  state(change: StateChange): void;
  error(err: HeraldClientError): void;
  transport(change: HeraldClientEvents['transport']): void;
  /** Open conversations, each from its last seq, for an SSE stream (the server's cap applies). */
  streams(): StreamPosition[];
}

export interface ConnectionDeps {
  opts: HeraldClientOptions;
  deviceId: string;
  WS: WebSocketConstructor;
  tokens: TokenKeeper;
  http: HeraldHttp;
  timers: NamedTimers;
  random: () => number;
  /** Full-jitter backoff for the attempt (shared with the retries above). */
  backoff(attempt: number): number;
  /** Resolves when the offline storage is loaded (never rejects): dials wait for it. */
  restored(): Promise<void>;
  hooks: ConnectionHooks;
}
