// The client's public option, event and state types, kept apart from the
// state machine so the shapes a host codes against read in one place.
import type { CloseAction } from '../protocol/close-codes.ts';
import type { PresenceEntry } from '../protocol/frames.ts';
import type { InboxEntry, Notice, Receipt, ThreadEntry } from '../protocol/model.ts';
import type { BackoffOptions } from './backoff.ts';
import type { HeraldClientError } from './errors.ts';
import type { FallbackOptions, Transport } from './fallback.ts';
import type { FetchLike } from './http.ts';
import type { SentMessage } from './outbox.ts';
import type { WebSocketConstructor } from './socket.ts';
import type { HeraldStorage } from './storage.ts';
import type { AppliedEvent } from './subscription.ts';
import type { Timers } from './timers.ts';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface StateChange {
  from: ConnectionState;
  to: ConnectionState;
  /** The close code that caused the move, when a socket closed. */
  closeCode?: number;
  closeReason?: string;
  /** What closeAction() (or a drain / token renewal) decided. */
  action?: CloseAction;
  /** Delay before the next dial, when moving to `reconnecting`. */
  delayMs?: number;
}

export interface TokenRequest {
  /** initial: no token yet; expiring: renew before expiry; expired: the server or an HTTP call refused it. */
  reason: 'initial' | 'expiring' | 'expired';
}

export interface WelcomeInfo {
  connection_id: string;
  user_id: string;
  tenant_id: string;
  /** The device id the server bound (ours, or one it assigned if ours was malformed). */
  device_id: string;
  heartbeat_ms: number;
  /** Token expiry in ms since the epoch (normalised from seconds if the server sent seconds). */
  expires_at_ms: number | null;
}

export interface HeraldClientEvents {
  state: StateChange;
  welcome: WelcomeInfo;
  /** Every conversation event, once, in seq order per conversation. */
  event: AppliedEvent;
  /** A send was confirmed (by ack or by its event). */
  sent: SentMessage;
  inbox: { entries: InboxEntry[] };
  /** A thread entry of this user changed (client.thread() timelines follow it). */
  thread: ThreadEntry;
  /** A notice this client had not seen (live, or caught up after a reconnect); not the first sync's backlog. */
  notice: Notice;
  receipt: Receipt;
  typing: { conversation: string; users: string[] };
  presence: { conversation: string | null; entries: PresenceEntry[] };
  degraded: { reason: string };
  error: HeraldClientError;
  /**
   * The transport changed: `connected: false` when the next dial tries the other one (WebSocket
   * dials keep failing), `connected: true` when a connection over it was welcomed.
   */
  transport: { from: Transport; to: Transport; reason: string; connected: boolean };
}

export interface HeraldClientOptions {
  /** Base URL of a Herald node: `https://chat.example.com` (HTTP calls and, by default, the socket). */
  url: string;
  /** Override the socket URL (default: `url` with ws(s):// and /v1/ws). */
  wsUrl?: string;
  /** Initial access token; if absent, getToken({reason:'initial'}) is called. */
  token?: string;
  /** Host callback returning a fresh access token (e.g. via your backend or POST /v1/tokens/refresh). */
  getToken?: (req: TokenRequest) => Promise<string>;
  /** Stable per-device id; default a random UUID per client instance. */
  deviceId?: string;
  /** WebSocket implementation; default globalThis.WebSocket (pass `ws`'s in Node 20). */
  WebSocket?: WebSocketConstructor;
  fetch?: FetchLike;
  backoff?: BackoffOptions;
  /** [0,1) source for jitter; inject for deterministic tests. */
  random?: () => number;
  timers?: Timers;
  /** Renew the token this long before it expires. Default 60 s (or half the remaining life, if less). */
  refreshBeforeMs?: number;
  /**
   * Renew by sending `auth {token}` on the live socket (the server re-arms its expiry) instead of
   * reconnecting with the new token. Default true.
   */
  renewInPlace?: boolean;
  /** Give up on a dial that has not been welcomed after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Give up on an HTTP call (catch-up, sync, read…) not answered within this long: it fails
   * NETWORK_ERROR and is retried like any network failure. Default 20 s; 0 = no limit.
   */
  requestTimeoutMs?: number;
  /** Send a `ping` this often when connected; a silent interval after a ping means a dead socket. 0 disables. Default 25 s. */
  pingIntervalMs?: number;
  /** At most one outgoing `typing` per conversation per this long. Default 2 s. */
  typingThrottleMs?: number;
  /** Incoming typing indicators expire after this long. Default 3 s. */
  typingTtlMs?: number;
  /**
   * Acknowledge applied events (`delivered` frames) at most once per conversation per this
   * long, highest seq only. 0 disables. Default 500 ms.
   */
  deliveryAckMs?: number;
  /** Send `heartbeat` on connect and every welcome.heartbeat_ms. Default true. */
  heartbeat?: boolean;
  /** Keep the inbox store in sync (GET /v1/inbox after every connect). Default true. */
  inbox?: boolean;
  /** Keep the notices store in sync (GET /v1/notices after every connect). Default true. */
  notices?: boolean;
  /** Page size of notices sync calls. Default 200 (the server's maximum). */
  noticesPageSize?: number;
  /** Page size of inbox sync calls. Default 200 (the server's maximum). */
  inboxPageSize?: number;
  /** HTTP page size for catch-up. Default 200. */
  pageSize?: number;
  /** When `subscribed` precedes its replay, wait this long for the frames before fetching them. Default 2 s. */
  replaySettleMs?: number;
  /** Messages kept per open conversation's timeline. Default 500. */
  maxMessages?: number;
  createClientId?: () => string;
  /**
   * Where pending sends, unsent reads, each conversation's last_seq and a cache of its newest
   * messages persist, so a reload or a new client shows them at once and resends what was
   * pending (once: the server is idempotent on client_id). Default: IndexedDB where the runtime
   * has it (database `herald:<tenant>:<user>` from the initial JWT, else `herald`), else memory
   * (`memoryStorage()`); `false` keeps nothing.
   */
  storage?: HeraldStorage | false;
  /** Newest messages cached per conversation in the storage. Default 200; 0 keeps positions only. */
  cacheMessages?: number;
  /**
   * When WebSocket dials keep failing before the protocol starts (a refused upgrade, a proxy that
   * strips Upgrade), receive over the server's SSE stream and send/read over HTTP, probing
   * WebSocket now and then. Default `{after: 3, probeMs: 5_000, maxProbeMs: 300_000}`; false: never.
   */
  fallback?: FallbackOptions | false;
}
