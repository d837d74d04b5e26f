// Which transport the next dial uses: WebSocket, or SSE + HTTP once WebSocket
// dials keep failing before the protocol starts (fallback.ts decides); while on
// SSE, a WebSocket probe now and then says when to move back.
import { probeWebSocket } from './dial.ts';
import { HeraldClientError } from './errors.ts';
import { type Transport, TransportPolicy } from './fallback.ts';
import type { HeraldHttp } from './http.ts';
import type { NamedTimers } from './named-timers.ts';
import type { HeraldClientEvents, HeraldClientOptions } from './options.ts';
import type { WebSocketConstructor } from './socket.ts';
import { SSE_MAX_CONVERSATIONS, SseSocket, sseUrl } from './sse-transport.ts';

/** A stream the SSE transport must carry (a conversation, from its last seq): opaque here. */
export interface StreamPosition {
  conversation: string;
  seq: number | null;
}

export interface TransportSwitchDeps {
  opts: HeraldClientOptions;
  deviceId: string;
  WS: WebSocketConstructor;
  http: HeraldHttp;
  timers: NamedTimers;
  socketUrl(): string;
  streams(): StreamPosition[];
  transport(change: HeraldClientEvents['transport']): void;
  error(err: HeraldClientError): void;
  /** A check that the connection is still on the socket (and connected) it was on when called. */
  sameSocket(): () => boolean;
  /** The probe opened: leave the SSE stream for a WebSocket. */
  backToWebSocket(): void;
}

export class TransportSwitch {
  private readonly policy: TransportPolicy;
  /** The transport of the current dial, and of the last welcomed connection. */
  private dialTransport: Transport = 'websocket';
  private welcomedTransport: Transport | null = null;
  /** Open conversations the current SSE stream could not carry (over the server's per-stream cap). */
  private beyondSseCap: string[] = [];

  constructor(private readonly deps: TransportSwitchDeps) {
    this.policy = new TransportPolicy(deps.opts.fallback);
  }

  /** The transport of the current (or last) connection. */
  get current(): Transport {
    return this.welcomedTransport ?? this.policy.current;
  }
  /** The transport of the dial in progress (or of the current socket). */
  get dialling(): Transport {
    return this.dialTransport;
  }

  /** A dial starts: it uses the transport the policy picks now. */
  beginDial(): Transport {
    this.dialTransport = this.policy.current;
    return this.dialTransport;
  }

  /** The SSE stream for the open conversations (the server's cap), each from its last seq. */
  openSse(token: string): SseSocket {
    const { opts, deviceId, http } = this.deps;
    const open = this.deps.streams();
    const list = open.slice(0, SSE_MAX_CONVERSATIONS);
    this.beyondSseCap = open.slice(SSE_MAX_CONVERSATIONS).map((s) => s.conversation);
    return new SseSocket({
      url: sseUrl(opts.url, deviceId, list),
      token,
      conversations: list.map((c) => c.conversation),
      beyondCap: this.beyondSseCap,
      fetch: opts.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      http,
    });
  }

  /** A dial ended before its welcome: maybe the transport is blocked. */
  dialFailed(belowProtocol: boolean): void {
    const from = this.dialTransport;
    if (!this.policy.dialFailed(from, belowProtocol)) return;
    const to = this.policy.current;
    const reason =
      to === 'sse'
        ? 'WebSocket dials keep failing before the protocol starts (blocked?): trying SSE + HTTP'
        : 'SSE keeps failing too: trying WebSocket again';
    this.deps.transport({ from, to, reason, connected: false });
  }

  /** A welcome: note the transport, say when it changed, and probe WebSocket while on SSE. */
  welcomed(): void {
    const t = this.dialTransport;
    const prev = this.welcomedTransport;
    this.policy.welcomed(t);
    this.welcomedTransport = t;
    const reason = t === 'sse' ? 'connected over SSE + HTTP' : 'connected over WebSocket';
    if (prev !== null && prev !== t) this.deps.transport({ from: prev, to: t, reason, connected: true });
    else if (prev === null && t === 'sse')
      this.deps.transport({ from: 'websocket', to: 'sse', reason, connected: true });
    if (t !== 'sse') return;
    if (this.policy.enabled) this.scheduleProbe();
    for (const conversation of this.beyondSseCap)
      this.deps.error(
        new HeraldClientError(
          'SSE_CONVERSATION_LIMIT',
          `Over SSE at most ${SSE_MAX_CONVERSATIONS} conversations are live at once: ${conversation} is not, until the client is back on WebSocket or others close.`,
          { ref: conversation },
        ),
      );
  }

  private scheduleProbe(): void {
    this.deps.timers.set('probe', this.policy.probeDelay(), () => this.probe());
  }

  /** If a WebSocket opens while on SSE, move back: a reconnect that resumes everything. */
  private probe(): void {
    const { timers, opts } = this.deps;
    const same = this.deps.sameSocket();
    const timeout = {
      arm: (fn: () => void) => timers.set('probe-timeout', opts.connectTimeoutMs ?? 10_000, fn),
      disarm: () => timers.clear('probe-timeout'),
    };
    const started = probeWebSocket(
      this.deps.WS,
      () => this.deps.socketUrl(),
      timeout,
      (opened) => {
        if (!same() || this.dialTransport !== 'sse') return;
        if (!opened) {
          this.policy.probeFailed();
          this.scheduleProbe();
          return;
        }
        this.policy.probeSucceeded();
        this.deps.backToWebSocket();
      },
    );
    if (!started) {
      this.policy.probeFailed();
      this.scheduleProbe();
    }
  }
}
