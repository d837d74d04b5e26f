// What a client frame's handler sees of its connection (session.ts provides it). Below the
// router and every handler module, so a handler file imports this, never the session.
import type { ClientFrame, ServerFrame } from '../protocol/index.ts';
import type { GatewayCore } from './core.ts';
import type { Priority } from './metrics.ts';
import type { Rooms } from './rooms.ts';
import type { Signals } from './signals.ts';

/** Every client frame after the handshake (`auth` is the transport's). */
export type SessionFrame = Exclude<ClientFrame, { type: 'auth' }>;
export type SessionFrameType = SessionFrame['type'];
export type FrameOf<T extends SessionFrameType> = Extract<SessionFrame, { type: T }>;

export interface FrameContext {
  readonly id: string;
  readonly tenant: string;
  readonly user: string;
  readonly core: GatewayCore;
  readonly rooms: Rooms;
  readonly signals: Signals;
  /** A frame for this connection alone (acks, errors, control). */
  send(frame: ServerFrame, priority?: Priority): void;
  /** An `error` frame for a failed frame (HeraldError: its code; anything else: INTERNAL, logged). */
  sendError(err: unknown, ref?: string): void;
}
