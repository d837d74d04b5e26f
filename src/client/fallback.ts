// Which transport the next dial uses. WebSocket first; when `after`
// consecutive WebSocket dials fail below the protocol (no welcome, and an
// abnormal close or a connect timeout: a refused upgrade, a proxy that strips
// Upgrade, a network that drops it), the client moves to SSE + HTTP. A
// failure *in* the protocol (a close code from the server: token, rate limit,
// socket cap) says the WebSocket works and counts nothing.
//
// A server that is simply down fails both transports, so SSE gets one dial
// per `after` failed WebSocket ones: when it fails too, the next `after` go to
// WebSocket again. During an outage most dials stay WebSocket, and a client
// that lands on SSE when the server returns goes back at the first probe:
// while on SSE the WebSocket is probed now and then (probeMs, doubling to
// maxProbeMs), and a probe that opens brings the client back.
export type Transport = 'websocket' | 'sse';

export interface FallbackOptions {
  /** Consecutive WebSocket dials failing below the protocol before trying SSE. Default 3. */
  after?: number;
  /** First WebSocket probe this long after an SSE welcome; doubles per failed probe. Default 5 s. */
  probeMs?: number;
  /** Cap of the probe interval. Default 5 min. */
  maxProbeMs?: number;
}

/** Closes that say nothing reached the protocol: no close frame (1006), none given (1005), TLS (1015). */
export function isTransportFailure(code: number): boolean {
  return code === 1006 || code === 1005 || code === 1015;
}

export class TransportPolicy {
  private _current: Transport = 'websocket';
  private wsFailures = 0;
  private probes = 0;
  readonly enabled: boolean;
  private readonly after: number;
  private readonly probeMs: number;
  private readonly maxProbeMs: number;

  constructor(opts: FallbackOptions | false | undefined) {
    this.enabled = opts !== false;
    const o = opts || {};
    this.after = Math.max(1, Math.floor(o.after ?? 3));
    this.probeMs = Math.max(0, o.probeMs ?? 5_000);
    this.maxProbeMs = Math.max(this.probeMs, o.maxProbeMs ?? 300_000);
  }

  get current(): Transport {
    return this._current;
  }

  /** A dial of `t` ended before its welcome. Returns true when the next dial changes transport. */
  dialFailed(t: Transport, belowProtocol: boolean): boolean {
    if (!this.enabled || t !== this._current) return false;
    if (t === 'websocket') {
      if (!belowProtocol) {
        this.wsFailures = 0;
        return false;
      }
      if (++this.wsFailures < this.after) return false;
      this._current = 'sse';
      return true;
    }
    // SSE fails too: perhaps the server is down rather than the WebSocket blocked.
    this._current = 'websocket';
    this.wsFailures = 0;
    return true;
  }

  welcomed(t: Transport): void {
    if (t === 'websocket') {
      this.wsFailures = 0;
      this.probes = 0;
    }
  }

  /** Delay before the next WebSocket probe while on SSE. */
  probeDelay(): number {
    return Math.min(this.maxProbeMs, this.probeMs * 2 ** Math.min(this.probes, 30));
  }

  probeFailed(): void {
    this.probes++;
  }

  /** A probe opened: the next dial is a WebSocket one. */
  probeSucceeded(): void {
    this._current = 'websocket';
    this.wsFailures = 0;
  }
}
