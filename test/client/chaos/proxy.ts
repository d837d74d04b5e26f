// A seeded fault-injecting TCP proxy for the SDK chaos test. Clients dial the
// proxy; it dials the node and forwards bytes both ways, and while faults are
// on it breaks the stream the way networks do:
//   - refused connects: a new connection is reset at once (ECONNRESET before
//     any byte), or the listener is closed for a while (ECONNREFUSED);
//   - kills: a connection is cut after a random byte budget, mid-chunk and so
//     usually mid-frame (RST, or FIN both ways), or after a random lifetime;
//   - stalls: one direction stops for a while, its bytes held (not lost);
//   - split chunks: a chunk goes out in pieces cut at random byte offsets,
//     with small random gaps between them (order always kept);
//   - dead paths: from the client's n-th chunk on (that one included, so
//     often a request in flight) a connection forwards nothing and closes
//     nothing (a NAT that forgot it, a network switch); only the endpoints'
//     own timeouts can end it, and calm() does not revive it.
// It never changes a byte, nor drops one of a connection that is still
// alive: whatever one end receives is a prefix of what the other sent.
//
// Each connection draws its plan from its own Rng, seeded by (seed, index):
// the n-th connection of a run gets the same plan whatever the timing was.
// `calm()` turns faults off: held bytes flow again and new connections are
// clean, so a test can quiesce and check convergence.
import net from 'node:net';
import { Rng } from '../../sim/prng.ts';

export interface FaultProfile {
  /** A new connection is reset before any byte. */
  refuse: number;
  /** A connection gets a byte budget per direction; past it the connection is cut mid-chunk. */
  killByBytes: number;
  /** Budget range in bytes (uniform). */
  killBytes: [number, number];
  /** A connection gets a lifetime; at its end the connection is cut. */
  killByTime: number;
  killAfterMs: [number, number];
  /** A connection's path dies at a client chunk: silence both ways, no close, for good. */
  blackhole: number;
  /** Which client chunk (1 = the first), uniform. */
  blackholeAtChunk: [number, number];
  /** A cut is a TCP reset (else FIN both ways, as a clean-looking close mid-frame). */
  resetShare: number;
  /** Per forwarded chunk: the direction stalls before it. */
  stall: number;
  stallMs: [number, number];
  /** Per forwarded chunk: it is split into pieces at random byte offsets. */
  split: number;
  /** Largest gap between pieces (ms). */
  pieceGapMs: number;
}

export const CALM: FaultProfile = {
  refuse: 0,
  killByBytes: 0,
  killBytes: [0, 0],
  killByTime: 0,
  killAfterMs: [0, 0],
  blackhole: 0,
  blackholeAtChunk: [0, 0],
  resetShare: 0,
  stall: 0,
  stallMs: [0, 0],
  split: 0,
  pieceGapMs: 0,
};

export interface ProxyStats {
  accepted: number;
  refused: number;
  killedByBytes: number;
  killedByTime: number;
  blackholed: number;
  stalls: number;
  splits: number;
  upstreamFailed: number;
  outages: number;
}

/** Mixes the run's seed with a connection's index into an independent stream. */
function connectionSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(index + 1, 0x165667b1)) >>> 0;
}

const between = (rng: Rng, [lo, hi]: [number, number]): number => lo + rng.int(Math.max(1, hi - lo + 1));

export class ChaosProxy {
  readonly stats: ProxyStats = {
    accepted: 0,
    refused: 0,
    killedByBytes: 0,
    killedByTime: 0,
    blackholed: 0,
    stalls: 0,
    splits: 0,
    upstreamFailed: 0,
    outages: 0,
  };
  private server: net.Server | null = null;
  private readonly conns = new Set<Connection>();
  private index = 0;
  private faults: FaultProfile;
  private _port = 0;

  private constructor(
    private readonly seed: number,
    private targetPort: number,
    faults: FaultProfile,
  ) {
    this.faults = faults;
  }

  /** Listens on 127.0.0.1, port 0, forwarding to 127.0.0.1:targetPort. */
  static async start(seed: number, targetPort: number, faults: FaultProfile = CALM): Promise<ChaosProxy> {
    const p = new ChaosProxy(seed, targetPort, faults);
    await p.listen(0);
    return p;
  }

  get port(): number {
    return this._port;
  }

  get url(): string {
    return `http://127.0.0.1:${this._port}`;
  }

  /** Where new connections go (a restarted node may listen elsewhere). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  setFaults(faults: FaultProfile): void {
    this.faults = faults;
  }

  /** Faults off: stalled and split bytes flow at once; kill plans of open connections are dropped. */
  calm(): void {
    this.faults = CALM;
    for (const c of this.conns) c.calm();
  }

  get faulty(): boolean {
    return this.faults !== CALM;
  }

  /** Closes the listener for `ms` (dials are refused: ECONNREFUSED); open connections live on. */
  async outage(ms: number): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.stats.outages++;
    this.server = null;
    // Stops listening at once; its callback would wait for every open connection (a dead path
    // may hold one for a long time), so it is not awaited.
    srv.close();
    await new Promise((r) => setTimeout(r, ms));
    await this.listen(this._port);
  }

  /** Cuts every open connection now (RST). */
  cutAll(): void {
    for (const c of [...this.conns]) c.cut(true);
  }

  async close(): Promise<void> {
    const srv = this.server;
    this.server = null;
    for (const c of [...this.conns]) c.cut(true);
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  private async listen(port: number): Promise<void> {
    const srv = net.createServer((socket) => this.accept(socket));
    srv.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        resolve();
      });
    });
    this._port = (srv.address() as net.AddressInfo).port;
    this.server = srv;
  }

  private accept(client: net.Socket): void {
    const rng = new Rng(connectionSeed(this.seed, this.index++));
    const f = this.faults;
    this.stats.accepted++;
    client.on('error', () => {});
    if (rng.chance(f.refuse)) {
      this.stats.refused++;
      client.resetAndDestroy();
      return;
    }
    const conn = new Connection(client, this.targetPort, rng, f, this.stats, () => this.conns.delete(conn));
    this.conns.add(conn);
  }
}

/** One proxied connection: two directions, each a queue of chunks pumped with its faults. */
class Connection {
  private readonly upstream: net.Socket;
  private readonly up: Direction;
  private readonly down: Direction;
  private killTimer: NodeJS.Timeout | null = null;
  private dead = false;
  private holed = false;

  constructor(
    private readonly client: net.Socket,
    targetPort: number,
    rng: Rng,
    faults: FaultProfile,
    private readonly stats: ProxyStats,
    private readonly gone: () => void,
  ) {
    this.upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    this.upstream.on('error', () => {});
    const budget = () => (rng.chance(faults.killByBytes) ? between(rng, faults.killBytes) : Infinity);
    const reset = rng.chance(faults.resetShare);
    const cutBy = () => {
      this.stats.killedByBytes++;
      this.cut(reset);
    };
    this.up = new Direction(client, this.upstream, rng, faults, stats, budget(), cutBy);
    this.down = new Direction(this.upstream, client, rng, faults, stats, budget(), cutBy);
    if (rng.chance(faults.killByTime)) {
      this.killTimer = setTimeout(
        () => {
          this.stats.killedByTime++;
          this.cut(reset);
        },
        between(rng, faults.killAfterMs),
      );
    }
    if (rng.chance(faults.blackhole)) {
      this.up.dieAtChunk(between(rng, faults.blackholeAtChunk), () => {
        this.holed = true;
        this.stats.blackholed++;
        this.up.blackhole();
        this.down.blackhole();
      });
    }
    let connected = false;
    this.upstream.once('connect', () => {
      connected = true;
    });
    // The node is down (restarting) or refused: the client sees its connection reset.
    this.upstream.once('error', () => {
      if (!connected) this.stats.upstreamFailed++;
      this.cut(true);
    });
    client.once('close', () => this.cut(false));
    // Past a dead path the client hears nothing of the node, its close included.
    this.upstream.once('close', () => {
      if (!this.holed) this.cut(false);
    });
  }

  calm(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    this.up.calm();
    this.down.calm();
  }

  /** Ends both sides: RST, or FIN after what was already written (a close mid-frame). */
  cut(reset: boolean): void {
    if (this.dead) return;
    this.dead = true;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.up.stop();
    this.down.stop();
    for (const s of [this.client, this.upstream]) {
      if (reset) s.resetAndDestroy();
      else s.end(() => s.destroy());
    }
    // A FIN'd peer that never closes its side must not hold the socket for ever.
    if (!reset) {
      setTimeout(() => {
        this.client.destroy();
        this.upstream.destroy();
      }, 2000).unref();
    }
    this.gone();
  }
}

/** Bytes from `from` to `to`, in order, through the fault plan. */
class Direction {
  private readonly queue: Buffer[] = [];
  private pumping = false;
  private stopped = false;
  private faults: FaultProfile;
  private wake: (() => void) | null = null;
  private sent = 0;
  private paused = false;
  /** The path is dead: bytes are swallowed, for good. */
  private hole = false;
  private chunks = 0;
  private holeAt = Infinity;
  private die: () => void = () => {};

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly rng: Rng,
    faults: FaultProfile,
    private readonly stats: ProxyStats,
    private budget: number,
    private readonly overBudget: () => void,
  ) {
    this.faults = faults;
    from.on('data', (chunk: Buffer) => {
      if (++this.chunks === this.holeAt) this.die();
      if (this.hole) return;
      this.queue.push(chunk);
      // Hold the sender while we are behind (a stall), as a real network's window would.
      if (this.queue.length > 64 && !this.paused) {
        this.paused = true;
        from.pause();
      }
      void this.pump();
    });
  }

  calm(): void {
    this.faults = CALM;
    this.budget = Infinity;
    this.holeAt = Infinity;
    this.wake?.();
  }

  /** The path dies when this direction receives its n-th chunk (unless calm by then). */
  dieAtChunk(n: number, die: () => void): void {
    this.holeAt = n;
    this.die = die;
  }

  blackhole(): void {
    this.hole = true;
    this.queue.length = 0;
    this.wake?.();
    if (this.paused) this.from.resume();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.wake?.();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.stopped && this.queue.length > 0) {
        const chunk = this.queue.shift() as Buffer;
        const f = this.faults;
        if (this.rng.chance(f.stall)) {
          this.stats.stalls++;
          await this.sleep(between(this.rng, f.stallMs));
        }
        const pieces = this.rng.chance(f.split) ? this.cutPieces(chunk) : [chunk];
        if (pieces.length > 1) this.stats.splits++;
        for (let i = 0; i < pieces.length && !this.stopped; i++) {
          if (i > 0 && this.faults.pieceGapMs > 0) await this.sleep(this.rng.int(this.faults.pieceGapMs + 1));
          if (this.stopped) break;
          if (!this.forward(pieces[i])) return;
        }
        if (this.paused && this.queue.length < 16) {
          this.paused = false;
          this.from.resume();
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Writes a piece within the byte budget; past it writes the part that fits and cuts. */
  private forward(piece: Buffer): boolean {
    if (this.hole) return false;
    const room = this.budget - this.sent;
    if (piece.length > room) {
      if (room > 0 && !this.to.destroyed) this.to.write(piece.subarray(0, room));
      this.overBudget();
      return false;
    }
    this.sent += piece.length;
    if (!this.to.destroyed) this.to.write(piece);
    return true;
  }

  /** 2–5 pieces cut at random offsets (a 1-byte chunk stays whole). */
  private cutPieces(chunk: Buffer): Buffer[] {
    if (chunk.length < 2) return [chunk];
    const cuts = new Set<number>();
    const n = 1 + this.rng.int(4);
    for (let i = 0; i < n; i++) cuts.add(1 + this.rng.int(chunk.length - 1));
    const at = [...cuts].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let prev = 0;
    for (const c of at) {
      out.push(chunk.subarray(prev, c));
      prev = c;
    }
    out.push(chunk.subarray(prev));
    return out;
  }

  /** Waits `ms`, or less if calm() or stop() comes first. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}
