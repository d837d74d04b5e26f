// The outgoing bytes of one connection (WebSocket or SSE), batched per tick.
//
// Frames are queued as references to buffers rendered once per topic frame and shared by
// every connection: nothing is copied or framed per socket. Once per event-loop turn
// (setImmediate) every connection with queued frames hands them to its stream in one
// corked write (one writev), and hands over the next batch only when the stream has taken
// the previous one. So what sits in user space beyond one batch is whole frames in this
// queue, which a slow-consumer close can drop and overtake: the close reason goes out right
// behind the batch in flight instead of behind megabytes of backlog.
import type { Writable } from 'node:stream';

/** What a Writer writes to: a net.Socket (WebSocket) or an http.ServerResponse (SSE). */
export type Stream = Pick<Writable, 'write' | 'cork' | 'uncork' | 'writableLength' | 'destroyed'>;

/** Whether a transport may still carry data frames (false e.g. once a close frame went out). */
export interface WriterGate {
  readonly open: boolean;
}

/**
 * Flushes the writers with queued frames at the end of each event-loop turn (setImmediate).
 * An `event` also asks for an eager flush: the first one of a turn goes out as soon as the
 * code that dispatched it yields (a microtask) — a lone message is not held back, and frames
 * dispatched together with it synchronously (one bus read) share its write — while what
 * follows later in the same turn (the inbox frames riding along, the next events of a
 * burst) waits for the turn's end and leaves in one write per connection.
 */
export class FlushScheduler {
  private pending: Writer[] = [];
  private spare: Writer[] = [];
  /** A turn-end flush is scheduled. */
  private armed = false;
  /** An eager flush already happened this turn. */
  private early = false;
  private readonly onTurnEnd = () => {
    this.armed = false;
    this.early = false;
    this.flushPending();
  };
  private readonly onEager = () => this.flushPending();

  schedule(w: Writer): void {
    this.pending.push(w);
    this.arm();
  }

  /** Flushes at the next microtask unless an eager flush already happened this turn. */
  eager(): void {
    if (this.early) return;
    this.early = true;
    queueMicrotask(this.onEager);
    this.arm();
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(this.onTurnEnd);
  }

  private flushPending(): void {
    // Swap the lists (both reused): a flush may schedule again.
    const list = this.pending;
    this.pending = this.spare;
    this.spare = list;
    for (let i = 0; i < list.length; i++) list[i].flush();
    list.length = 0;
  }
}

export class Writer {
  private readonly chunks: Buffer[] = [];
  private queuedBytes = 0;
  /** Batches whose last write has not called back yet. */
  private pendingBatches = 0;
  private scheduled = false;
  private ended = false;
  /**
   * One callback for every batch: the last write's callback means the whole batch is written.
   * Bound, not a class-field arrow: under tsx (esbuild keepNames) every such arrow gets its
   * own `name` property store, and there is one Writer per connection.
   */
  private readonly onWritten = this.written.bind(this);

  constructor(
    private readonly stream: Stream,
    private readonly scheduler: FlushScheduler,
    /**
     * A tick's queue is handed over at once when it reaches this many bytes: the queue
     * measures what the kernel refused, not what one tick produced (keep it well under the
     * soft mark, or a burst that the kernel would take looks like a slow reader).
     */
    private readonly flushAtBytes: number,
    /** The transport's gate (none: always open). */
    private readonly gate: WriterGate | null = null,
  ) {}

  private written(err?: Error | null): void {
    this.pendingBatches--;
    if (err) {
      this.ended = true;
      this.drop();
      return;
    }
    if (this.chunks.length > 0) this.flush();
  }

  /** Bytes accepted and not yet taken by the kernel: this queue plus the stream's own buffer. */
  get bufferedAmount(): number {
    return this.queuedBytes + this.stream.writableLength;
  }

  /** The kernel has not taken the last batch yet: its callback flushes what is queued meanwhile. */
  private get waiting(): boolean {
    return this.pendingBatches > 0 && this.stream.writableLength > 0;
  }

  /** Queues bytes for this tick's flush. The buffer must not change afterwards (it is shared). */
  enqueue(buf: Buffer): void {
    if (this.ended) return;
    this.chunks.push(buf);
    this.queuedBytes += buf.length;
    if (this.waiting) return;
    if (this.queuedBytes >= this.flushAtBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      this.scheduler.schedule(this);
    }
  }

  /** Writes now, ahead of the queued frames (behind the batch in flight only). */
  urgent(data: Buffer | string): void {
    if (this.ended || !this.writable()) return;
    this.stream.write(data);
  }

  /** Hands the queue to the stream in one corked write, unless the last batch is still in flight. */
  flush(): void {
    this.scheduled = false;
    if (this.chunks.length === 0 || this.waiting) return;
    this.flushNow();
  }

  /** Writes everything queued now, in flight or not (before a normal close). */
  flushNow(): void {
    if (this.ended || this.chunks.length === 0) return;
    if (!this.writable()) {
      this.drop();
      return;
    }
    const { chunks, stream } = this;
    const n = chunks.length;
    this.pendingBatches++;
    if (n > 1) stream.cork();
    for (let i = 0; i < n - 1; i++) stream.write(chunks[i]);
    stream.write(chunks[n - 1], this.onWritten);
    if (n > 1) stream.uncork();
    chunks.length = 0;
    this.queuedBytes = 0;
  }

  /** No more frames; with `discard`, the queue is dropped. Returns the bytes dropped. */
  end(discard: boolean): number {
    if (!discard) this.flushNow();
    this.ended = true;
    return this.drop();
  }

  private writable(): boolean {
    return !this.stream.destroyed && (this.gate === null || this.gate.open);
  }

  private drop(): number {
    const dropped = this.queuedBytes;
    this.chunks.length = 0;
    this.queuedBytes = 0;
    return dropped;
  }
}

/**
 * A server-to-client WebSocket text frame (FIN, opcode 1, unmasked, no extensions: the
 * gateway runs without permessage-deflate) holding `text`, header and payload in one buffer.
 */
export function wsTextFrame(text: string, bytes = Buffer.byteLength(text)): Buffer {
  const header = bytes < 126 ? 2 : bytes < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(header + bytes);
  out[0] = 0x81;
  if (header === 2) out[1] = bytes;
  else if (header === 4) {
    out[1] = 126;
    out.writeUInt16BE(bytes, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(bytes / 2 ** 32), 2);
    out.writeUInt32BE(bytes >>> 0, 6);
  }
  out.write(text, header, bytes, 'utf8');
  return out;
}

/** An SSE message without an id: `data: <json>\n\n` (frames are single-line JSON). */
export function sseData(text: string): Buffer {
  return Buffer.from(`data: ${text}\n\n`, 'utf8');
}
