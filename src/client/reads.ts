// Read markers, at least once: the latest read per conversation is written
// again after every reconnect until the server reflects it (an `inbox` entry,
// own `receipt` or HTTP read answer with last_read_seq >= seq).
import type { FlushContext, FlushLane } from './paced-flush.ts';
import type { Persistence } from './persistence.ts';
import type { StoredRead } from './storage.ts';

/**
 * A read marker until the server reflects it: queued (to write on this or the next socket), sent
 * (written, unconfirmed: back to queued if the socket dies), done (the server has it, or refused
 * it for good).
 */
interface PendingRead {
  seq: number;
  state: 'queued' | 'sent' | 'done';
  /** After a retryable error: not before this time. */
  notBefore: number;
}

export interface ReadMarkersDeps {
  persistence: Persistence | null;
  now(): number;
  retryDelay(attempt: number): number;
}

export class ReadMarkers implements FlushLane {
  private readonly reads = new Map<string, PendingRead>();
  /** Per conversation, the highest last_read_seq the server has shown us. */
  private readonly serverRead = new Map<string, number>();
  /** Reads that came from storage (dropped if the storage was another user's). */
  private readonly restored = new Map<string, number>();
  private retries = 0;

  constructor(private readonly deps: ReadMarkersDeps) {}

  /**
   * Marks read up to seq (coalesced: only a higher seq counts). `ignored` when a read as high is
   * known already, `settled` when the server already has it, `queued` when it must go out.
   */
  mark(conversation: string, seq: number): 'ignored' | 'settled' | 'queued' {
    const prev = this.reads.get(conversation);
    if (prev && prev.seq >= seq) return 'ignored';
    const known = (this.serverRead.get(conversation) ?? -1) >= seq;
    this.reads.set(conversation, { seq, state: known ? 'done' : 'queued', notBefore: 0 });
    if (known) return 'settled';
    this.deps.persistence?.push({ op: 'putRead', read: { conversation, seq } });
    return 'queued';
  }

  /** A read that came from storage: marked like any other, and remembered as restored. */
  markRestored(conversation: string, seq: number): void {
    this.restored.set(conversation, seq);
  }

  /** The server has last_read_seq >= seq: a read up to seq needs no more resending. */
  settle(conversation: string, lastReadSeq: number): void {
    if (typeof lastReadSeq !== 'number') return;
    if (lastReadSeq > (this.serverRead.get(conversation) ?? -1))
      this.serverRead.set(conversation, lastReadSeq);
    const r = this.reads.get(conversation);
    if (r && r.state !== 'done' && lastReadSeq >= r.seq) {
      this.done(conversation, r);
      this.retries = 0;
    }
  }

  /**
   * An `error` frame naming the conversation: a sent read goes again after a backoff when the
   * code is retryable (true: flush later), or is dropped (e.g. INVALID_SEQ: it can never be marked).
   */
  refused(conversation: string, retry: boolean): boolean {
    const read = this.reads.get(conversation);
    if (read?.state !== 'sent') return false;
    if (!retry) {
      this.done(conversation, read);
      return false;
    }
    read.state = 'queued';
    read.notBefore = this.deps.now() + this.deps.retryDelay(this.retries++);
    return true;
  }

  /** The socket is gone: reads written on it go again on the next one. */
  requeue(): void {
    for (const r of this.reads.values()) if (r.state === 'sent') r.state = 'queued';
  }

  /** The storage was another user's: the reads that came from it are not this user's to send. */
  dropRestored(): void {
    for (const [conversation, seq] of this.restored)
      if (this.reads.get(conversation)?.seq === seq) this.reads.delete(conversation);
    this.restored.clear();
  }

  /** Reads the server has not reflected yet (to store again). */
  unsent(): StoredRead[] {
    const out: StoredRead[] = [];
    for (const [conversation, r] of this.reads)
      if (r.state !== 'done') out.push({ conversation, seq: r.seq });
    return out;
  }

  drain(ctx: FlushContext): boolean {
    for (const [conversation, r] of this.reads) {
      if (r.state !== 'queued') continue;
      if (r.notBefore > ctx.now) {
        ctx.later(r.notBefore - ctx.now);
        continue;
      }
      if (!ctx.mayWrite(false)) return false;
      if (ctx.write({ type: 'read', conversation, seq: r.seq })) r.state = 'sent';
    }
    return true;
  }

  private done(conversation: string, r: PendingRead): void {
    r.state = 'done';
    this.restored.delete(conversation);
    this.deps.persistence?.push({ op: 'deleteRead', conversation });
  }
}
