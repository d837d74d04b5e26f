// The transport: one socket at a time, moving through the states of
// connection-state.ts. It dials (WebSocket, or SSE + HTTP when WebSockets are
// blocked), backs off, pings, follows drain hints and renews the token; it
// knows nothing of conversations. What a close code means is decided by
// closeAction() in src/protocol, not here.
import { CLOSE, closeAction } from '../protocol/close-codes.ts';
import type { ClientFrame, ServerFrame } from '../protocol/frames.ts';
import { longJitterDelay } from './backoff.ts';
import type {
  ConnectionDeps,
  ConnectionFrameType,
  ConnectionHooks,
  SessionFrame,
} from './connection-hooks.ts';
import { checkTransition } from './connection-state.ts';
import { openWebSocket, socketUrl } from './dial.ts';
import { HeraldClientError, toClientError } from './errors.ts';
import { isTransportFailure, type Transport } from './fallback.ts';
import { type FrameHandlers, routeFrame } from './frame-router.ts';
import type { NamedTimers } from './named-timers.ts';
import type { ConnectionState, HeraldClientOptions, StateChange, WelcomeInfo } from './options.ts';
import { Pacer } from './pacer.ts';
import { frameText, OPEN, type WebSocketLike } from './socket.ts';
import { httpLimits, SseSocket } from './sse-transport.ts';
import { normaliseEpoch } from './token-keeper.ts';
import { TokenRenewal } from './token-renewal.ts';
import { TransportSwitch } from './transport-switch.ts';

export type {
  ConnectionDeps,
  ConnectionFrameType,
  ConnectionHooks,
  SessionFrame,
} from './connection-hooks.ts';

/** Timers of one socket: cleared whenever it is given up. */
const SOCKET_TIMERS = ['connect', 'ping', 'renew', 'drain', 'probe', 'probe-timeout'];

export class Connection {
  /** Paces writes within the server's `welcome.limits`. */
  readonly pacer: Pacer;
  private _state: ConnectionState = 'disconnected';
  private _welcome: WelcomeInfo | null = null;
  private ws: WebSocketLike | null = null;
  /** Bumped whenever a socket is abandoned, so its late callbacks are ignored. */
  private gen = 0;
  /** The socket generation that got its welcome (paced writes wait for it). */
  private welcomedGen = -1;
  private attempt = 0;
  private drainDueAt: number | null = null;
  private awaitingPong = false;
  /** WebSocket, or SSE + HTTP when WebSockets are blocked. */
  private readonly switch: TransportSwitch;
  private readonly renewal: TokenRenewal;
  private readonly own: FrameHandlers<ConnectionFrameType>;
  private readonly timers: NamedTimers;
  private readonly hooks: ConnectionHooks;
  private readonly opts: HeraldClientOptions;

  constructor(private readonly deps: ConnectionDeps) {
    this.timers = deps.timers;
    this.hooks = deps.hooks;
    this.opts = deps.opts;
    const sameSocket = () => {
      const gen = this.gen;
      return () => gen === this.gen && this._state === 'connected';
    };
    const { hooks } = deps;
    const error = (err: HeraldClientError) => hooks.error(err);
    this.switch = new TransportSwitch({
      ...deps,
      socketUrl: () => this.url(),
      streams: () => hooks.streams(),
      transport: (change) => hooks.transport(change),
      error,
      sameSocket,
      backToWebSocket: () => {
        this.abandonSocket(1000, 'websocket available');
        this.reconnectIn(0, { action: 'reconnect', closeReason: 'WebSocket available again' });
      },
    });
    this.renewal = new TokenRenewal({
      ...deps,
      write: (f) => this.write(f),
      error,
      sameSocket,
      redial: () => {
        this.abandonSocket(1000, 'token renewed');
        this.reconnectIn(0, { action: 'refresh' });
      },
    });
    this.pacer = new Pacer(this.timers.now());
    this.own = {
      welcome: (f) => this.onWelcome(f),
      token_expiring: (f) => {
        deps.tokens.noteExpiry(normaliseEpoch(f.expires_at));
        void this.renewal.renew();
      },
      drain: (f) => this.onDrain(f.reconnect_after_ms),
      pong: () => {},
    };
  }

  get state(): ConnectionState {
    return this._state;
  }
  /** The transport of the current (or last) connection. */
  get transport(): Transport {
    return this.switch.current;
  }
  /** The last welcome, or null before the first. */
  get session(): WelcomeInfo | null {
    return this._welcome;
  }
  /** Changes whenever a socket is given up: work scheduled for one socket checks it. */
  get generation(): number {
    return this.gen;
  }
  /** The current socket is welcomed and open: frames may be written. */
  get writable(): boolean {
    return this.welcomedGen === this.gen && this.ws !== null && this.ws.readyState === OPEN;
  }
  /** The current socket got its welcome (it may have closed since). */
  get welcomed(): boolean {
    return this.welcomedGen === this.gen;
  }

  connect(): void {
    this.attempt = 0;
    this.setState({ from: this._state, to: 'connecting' });
    void this.dial();
  }

  /** Closes the socket and stops reconnecting; false when already disconnected. */
  disconnect(): boolean {
    if (this._state === 'disconnected') return false;
    this.abandonSocket(1000, 'client disconnect');
    this.timers.clearAll();
    this.hooks.halting();
    this.drainDueAt = null;
    this.setState({ from: this._state, to: 'disconnected' });
    this.hooks.stopped(new HeraldClientError('DISCONNECTED'));
    return true;
  }

  write(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(frame));
    this.pacer.frameWritten(this.timers.now());
    return true;
  }

  // ---- dialling ---------------------------------------------------------------------

  private async dial(): Promise<void> {
    const gen = ++this.gen;
    await this.deps.restored(); // never rejects: a storage failure starts empty
    if (this.dialAbandoned(gen)) return;
    let token: string;
    try {
      token = await this.deps.tokens.forDial(this.timers.now());
    } catch (err) {
      if (gen !== this.gen || this._state === 'disconnected') return;
      const e = toClientError(err, 'TOKEN_REFRESH_FAILED');
      if (!this.opts.getToken) {
        this.stop(e);
        return;
      }
      this.hooks.error(e);
      this.onSocketGone(gen, CLOSE.UNAUTHENTICATED, e.message);
      return;
    }
    if (gen !== this.gen || this._state === 'disconnected') return;
    if (this.switch.beginDial() === 'sse') {
      this.attachSocket(gen, this.switch.openSse(token));
      return;
    }
    let opened: ReturnType<typeof openWebSocket>;
    try {
      opened = openWebSocket(this.deps.WS, this.url(), token);
    } catch (err) {
      this.hooks.error(toClientError(err, 'NETWORK_ERROR'));
      this.onSocketGone(gen, 1006, 'constructor failed');
      return;
    }
    if (opened.authFrame) {
      opened.ws.addEventListener('open', () => {
        if (gen === this.gen) this.write({ type: 'auth', token });
      });
    }
    this.attachSocket(gen, opened.ws);
  }

  /** A dial whose socket generation moved on, or that disconnect() overtook. */
  private dialAbandoned(gen: number): boolean {
    return gen !== this.gen || this._state === 'disconnected';
  }

  /** Listens to a new socket (WebSocket or SSE) and arms the welcome timeout. */
  private attachSocket(gen: number, ws: WebSocketLike): void {
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      if (gen === this.gen) this.onMessage(ev.data);
    });
    ws.addEventListener('close', (ev) => this.onSocketGone(gen, ev.code ?? 1006, ev.reason ?? ''));
    ws.addEventListener('error', () => {
      // A close event always follows; the close code carries the decision.
    });
    this.timers.set('connect', this.opts.connectTimeoutMs ?? 10_000, () => {
      if (gen === this.gen) this.dropSocket('connect timeout');
    });
  }

  private url(): string {
    return socketUrl(this.opts.url, this.opts.wsUrl, this.deps.deviceId);
  }

  // ---- frames -----------------------------------------------------------------------

  private onMessage(data: unknown): void {
    this.awaitingPong = false;
    const text = frameText(data);
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text ?? '') as ServerFrame;
    } catch {
      this.hooks.error(new HeraldClientError('BAD_REQUEST', 'Unparseable frame from the server.'));
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return;
    if (!routeFrame(this.own, frame)) this.hooks.frame(frame as SessionFrame);
  }

  private onWelcome(frame: Extract<ServerFrame, { type: 'welcome' }>): void {
    this.timers.clear('connect');
    this.attempt = 0;
    const expiresAtMs = normaliseEpoch(frame.expires_at);
    this.deps.tokens.accepted(expiresAtMs);
    this.welcomedGen = this.gen;
    this.pacer.reset(
      this.switch.dialling === 'sse' ? httpLimits(frame.limits) : frame.limits,
      this.timers.now(),
    );
    this._welcome = {
      connection_id: frame.connection_id,
      user_id: frame.user_id,
      tenant_id: frame.tenant_id,
      device_id: frame.device_id ?? this.deps.deviceId,
      heartbeat_ms: frame.heartbeat_ms,
      expires_at_ms: expiresAtMs,
    };
    this.hooks.welcomed(this._welcome);
    this.startPing();
    if (expiresAtMs !== null) this.renewal.schedule(expiresAtMs);
    this.switch.welcomed();
    if (this._state !== 'connected') this.setState({ from: this._state, to: 'connected' });
    this.hooks.connected(this._welcome);
  }

  private onDrain(reconnectAfterMs: number): void {
    const gen = this.gen;
    this.drainDueAt = this.timers.now() + Math.max(0, reconnectAfterMs);
    // The server closes after its wait; if it does not, leave at the hinted time ourselves.
    this.timers.set('drain', Math.max(0, reconnectAfterMs), () => {
      if (gen !== this.gen || this._state !== 'connected') return;
      this.drainDueAt = null;
      this.abandonSocket(1000, 'drain');
      this.reconnectIn(0, { action: 'reconnect', closeCode: CLOSE.DRAIN });
    });
  }

  // ---- liveness -----------------------------------------------------------

  private startPing(): void {
    const interval = this.opts.pingIntervalMs ?? 25_000;
    if (!(interval > 0)) return;
    this.awaitingPong = false;
    const gen = this.gen;
    const tick = () => {
      if (gen !== this.gen) return;
      if (this.awaitingPong) {
        // Nothing at all arrived for a whole interval after our ping: the socket is dead.
        this.dropSocket('no pong');
        return;
      }
      this.awaitingPong = this.write({ type: 'ping' });
      this.timers.set('ping', interval, tick);
    };
    this.timers.set('ping', interval, tick);
  }

  /** We give up on a socket that looks dead (no welcome, no pong): close it and redial with backoff. */
  private dropSocket(reason: string): void {
    if (this.welcomedGen !== this.gen) this.switch.dialFailed(true);
    this.abandonSocket(CLOSE.IDLE_TIMEOUT, reason);
    const delay = this.deps.backoff(this.attempt++);
    this.reconnectIn(delay, { closeCode: CLOSE.IDLE_TIMEOUT, closeReason: reason, action: 'reconnect' });
  }

  // ---- losing a socket --------------------------------------------------------------

  /** A socket closed (or never opened): decide between reconnect, refresh and stop. */
  private onSocketGone(gen: number, code: number, reason: string): void {
    if (gen !== this.gen) return;
    // The SSE stream ended itself to reopen with a new conversation or token: at once, no backoff.
    const reopen = this.ws instanceof SseSocket && this.ws.reopen;
    if (this.welcomedGen !== gen) this.switch.dialFailed(isTransportFailure(code));
    this.gen++;
    this.ws = null;
    this.detach();
    if (this._state === 'disconnected') return;
    let action = closeAction(code);
    let delay: number;
    if (this.drainDueAt !== null) {
      action = 'reconnect';
      delay = Math.max(0, this.drainDueAt - this.timers.now());
      this.drainDueAt = null;
    } else if (action === 'stop') {
      this.stop(new HeraldClientError('CONNECTION_CLOSED', reason || undefined, { closeCode: code }));
      return;
    } else if (reopen) {
      delay = 0;
    } else {
      // An HTTP 401 may already have refreshed the token since this socket opened: reuse it.
      if (action === 'refresh') this.deps.tokens.socketTokenRejected();
      // Over the socket cap: only another socket closing helps, so wait long.
      delay =
        code === CLOSE.TOO_MANY_CONNECTIONS
          ? longJitterDelay(this.attempt++, this.opts.backoff ?? {}, this.deps.random)
          : this.deps.backoff(this.attempt++);
    }
    this.reconnectIn(delay, { closeCode: code, closeReason: reason, action });
  }

  private reconnectIn(delay: number, info: Omit<StateChange, 'from' | 'to' | 'delayMs'>): void {
    if (this._state !== 'reconnecting') {
      this.setState({ from: this._state, to: 'reconnecting', delayMs: delay, ...info });
    }
    if (delay <= 0) void this.dial();
    else this.timers.set('reconnect', delay, () => void this.dial());
  }

  private stop(err: HeraldClientError): void {
    this.abandonSocket(1000, 'stop');
    this.timers.clearAll();
    this.hooks.halting();
    if (this._state !== 'disconnected') {
      this.setState({ from: this._state, to: 'disconnected', closeCode: err.closeCode, action: 'stop' });
    }
    this.hooks.error(err);
    this.hooks.stopped(err);
  }

  /** Detaches from the current socket (its events are ignored from now on) and closes it. */
  private abandonSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.gen++;
    this.ws = null;
    this.detach();
    if (ws) {
      try {
        ws.close(code >= 4000 || code === 1000 ? code : 1000, reason);
      } catch {
        // Closing a socket that is still connecting may throw in some runtimes; it is gone either way.
      }
    }
  }

  /** The socket's timers go, and the layer above requeues what the socket carried unconfirmed. */
  private detach(): void {
    for (const name of SOCKET_TIMERS) this.timers.clear(name);
    this.hooks.detached();
  }

  private setState(change: StateChange): void {
    checkTransition(change);
    this._state = change.to;
    this.hooks.state(change);
  }
}
