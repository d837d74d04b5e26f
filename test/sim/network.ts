// In-process WebSocket connections between the SDK and a node's gateway. The SDK gets a
// WebSocket constructor (SimSocket); the node side is a gateway Session on a Sink, wired
// as src/gateway/gateway.ts wires a `ws` socket (session, start, welcome, frames, close →
// dispose). Each direction is an ordered queue (a TCP stream): the scheduler delivers its
// head when the seed says. A connection can be cut (both sides see 1006, queued frames are
// lost), closed by the server (the close follows the frames already queued) or by the client.

import type { SocketEventLike, WebSocketLike } from '../../src/client/socket.ts';
import { parseClientFrame } from '../../src/gateway/client-frames.ts';
import type { GatewayCore } from '../../src/gateway/core.ts';
import { Session, type Sink } from '../../src/gateway/session.ts';
import { PROTOCOL_VERSION, type ServerFrame } from '../../src/protocol/index.ts';

export const TOKEN_PREFIX = 'sim.';
const BEARER = 'herald.bearer.';

type Listener = (e: SocketEventLike) => void;

/** The world side of the network: where dials go, and the invariant the sink checks. */
export interface NetHost {
  dial(socket: SimSocket): void;
  /** Reports a broken invariant (the run fails with it). */
  fail(message: string): void;
  count(name: string): void;
  activity: number;
}

export class SimSocket implements WebSocketLike {
  readyState = 0;
  conn: Conn | null = null;
  readonly user: string;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    private readonly host: NetHost,
    readonly url: string,
    protocols?: string | string[],
  ) {
    const list = typeof protocols === 'string' ? [protocols] : (protocols ?? []);
    const token = list.find((p) => p.startsWith(BEARER))?.slice(BEARER.length) ?? '';
    this.user = token.startsWith(TOKEN_PREFIX) ? token.slice(TOKEN_PREFIX.length) : '';
    host.dial(this);
  }

  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: Listener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener);
    this.listeners.set(type, list);
  }

  send(data: string): void {
    if (this.readyState !== 1 || !this.conn) return;
    this.conn.up.push(data);
    this.host.activity++;
  }

  close(): void {
    if (this.readyState >= 2) return;
    const conn = this.conn;
    this.readyState = 3;
    // The server reads what was sent before the close, then sees the close.
    if (conn?.open) {
      conn.up.push(CLOSE_MARK);
      conn.down = [];
      conn.clientGone = true;
    }
    queueMicrotask(() => this.emit({ type: 'close', code: 1000, reason: 'client close' }));
  }

  emit(e: SocketEventLike): void {
    for (const l of this.listeners.get(e.type) ?? []) l(e);
  }

  /** The dial failed or the connection is gone: the SDK sees a close with `code`. */
  closed(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.emit({ type: 'close', code, reason });
  }
}

/** Marks the end of a stream in a queue. */
export const CLOSE_MARK = '\u0000close';

interface DownClose {
  close: number;
  reason: string;
}

/** One accepted connection: a node's Session and the client's socket. */
export class Conn {
  /** Client → server frames (text), then CLOSE_MARK when the client closed. */
  up: string[] = [];
  /** Server → client frames, then a close when the server closed. */
  down: (string | DownClose)[] = [];
  open = true;
  clientGone = false;
  session: Session | null = null;
  /** Per conversation, the last event seq written in the current subscription. */
  private readonly lastSeq = new Map<string, number>();
  /** Conversations whose `left` of this user was written in the current subscription. */
  private readonly left = new Set<string>();

  constructor(
    readonly id: number,
    readonly host: NetHost,
    readonly node: string,
    readonly core: GatewayCore,
    readonly socket: SimSocket,
  ) {
    socket.conn = this;
  }

  private sink(): Sink {
    return {
      transport: 'ws',
      write: (text) => {
        if (!this.open || this.clientGone) return;
        this.check(text);
        this.down.push(text);
        this.host.activity++;
      },
      urgent: (text) => {
        if (!this.open || this.clientGone) return;
        this.down.push(text);
        this.host.activity++;
      },
      bufferedAmount: () => 0,
      close: (code, reason) => {
        if (!this.open || this.clientGone) return;
        this.down.push({ close: code, reason });
        this.host.activity++;
      },
      cut: (code, reason) => {
        if (!this.open || this.clientGone) return 0;
        this.down.push({ close: code, reason });
        this.host.activity++;
        return 0;
      },
    };
  }

  /** "The gateway itself never sends a duplicate within one subscription": seqs rise strictly. */
  private check(text: string): void {
    const f = JSON.parse(text) as ServerFrame;
    if (f.type === 'subscribed') {
      this.lastSeq.set(f.conversation, -1);
      this.left.delete(f.conversation);
    } else if (f.type === 'unsubscribed') this.lastSeq.delete(f.conversation);
    else if (f.type === 'event') {
      // Not an invariant of the contract under arbitrary bus loss, but worth counting: an event
      // written after this user's own `left` went out (the gateway missed the left on the bus).
      if (this.left.has(f.conversation)) this.host.count('event_after_left');
      const m = f.event.type === 'message.created' ? f.event.message : null;
      const data = m?.data as { event?: string; user_ids?: string[] } | null | undefined;
      if (m?.kind === 'system' && data?.event === 'left' && data.user_ids?.includes(this.socket.user))
        this.left.add(f.conversation);
      const last = this.lastSeq.get(f.conversation);
      if (last === undefined) {
        this.host.fail(
          `conn ${this.id} (${this.socket.user}@${this.node}): event ${f.seq} of ${f.conversation} outside a subscription`,
        );
      } else if (f.seq <= last) {
        this.host.fail(
          `conn ${this.id} (${this.socket.user}@${this.node}): gateway sent seq ${f.seq} of ${f.conversation} after ${last} in one subscription`,
        );
      } else this.lastSeq.set(f.conversation, f.seq);
    }
  }

  /** The handshake completes: the socket opens, the session starts and sends `welcome`. */
  async accept(): Promise<void> {
    const s = new Session(this.core, this.sink(), {
      id: `conn-${this.id}`,
      tenant: TENANT,
      user: this.socket.user,
      device: `${this.socket.user}-dev`,
      expiresMs: Date.now() + 1_000_000_000,
    });
    this.session = s;
    this.core.sessions.add(s);
    this.socket.readyState = 1;
    this.socket.emit({ type: 'open' });
    await s.start();
    if (s.isClosing || !this.open) return;
    s.welcome({
      type: 'welcome',
      connection_id: s.id,
      user_id: s.user,
      tenant_id: s.tenant,
      device_id: s.device,
      heartbeat_ms: 30_000,
      protocol: PROTOCOL_VERSION,
      expires_at: Math.floor(s.expiresMs / 1000),
    });
  }

  /** Delivers the next client frame to the session. */
  stepUp(): void {
    const text = this.up.shift();
    if (text === undefined || !this.open) return;
    if (text === CLOSE_MARK) {
      this.end();
      return;
    }
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      this.host.fail(`conn ${this.id}: the SDK sent a frame the gateway rejects: ${text}`);
      return;
    }
    const f = parsed.frame;
    if (f.type === 'auth' || !this.session) return;
    void this.session.handle(f);
  }

  /** Delivers the next server frame to the SDK. */
  stepDown(): void {
    const item = this.down.shift();
    if (item === undefined || !this.open) return;
    if (typeof item === 'string') {
      this.socket.emit({ type: 'message', data: item });
      return;
    }
    this.end();
    this.socket.closed(item.close, item.reason);
  }

  /** The server side learns the connection is gone (as ws 'close' → dispose). */
  end(): void {
    if (!this.open) return;
    this.open = false;
    this.up = [];
    this.down = [];
    const s = this.session;
    if (s) {
      this.core.sessions.delete(s);
      void s.dispose();
    }
  }

  /** The network path is cut: both sides see 1006, whatever was queued is lost. */
  cut(): void {
    this.end();
    this.socket.closed(1006, 'connection lost');
  }

  /** The node process died: the socket drops; the session's memory just goes away. */
  crash(): void {
    this.open = false;
    this.up = [];
    this.down = [];
    // Stops the session's timers and hub listeners; no registry cleanup (a dead node does none).
    this.session?.close(1006, 'crash');
    this.socket.closed(1006, 'node crashed');
  }
}

export const TENANT = 'sim';
