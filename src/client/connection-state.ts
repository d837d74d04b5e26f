// The connection's states and the only legal moves between them. Any other
// move throws: a bug shows at once instead of leaving the client in a state
// nobody planned for.
//
//   disconnected ──connect()──► connecting ──welcome──► connected
//        ▲                          │                       │ close (reconnect | refresh), drain,
//        │ disconnect(),            │ close, no welcome     │ no pong, token renewed (renewInPlace: false)
//        │ close with 'stop' code   ▼                       ▼
//        └──────────────────── reconnecting ◄───────────────┘
//                                   │ backoff timer → dial … welcome
//                                   └──────────────► connected
import type { ConnectionState, StateChange } from './options.ts';

const TRANSITIONS: Record<ConnectionState, readonly ConnectionState[]> = {
  disconnected: ['connecting'],
  connecting: ['connected', 'reconnecting', 'disconnected'],
  connected: ['reconnecting', 'disconnected'],
  reconnecting: ['connected', 'disconnected'],
};

/** Throws on a move the table does not allow. */
export function checkTransition(change: StateChange): void {
  if (!TRANSITIONS[change.from].includes(change.to)) {
    throw new Error(`Illegal client state transition ${change.from} → ${change.to}`);
  }
}
