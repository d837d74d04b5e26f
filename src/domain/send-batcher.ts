// Group commit for sends (DESIGN §6 "write in batches"). Concurrent sends share one
// transaction and one statement (`herald_send` over the batch), so a commit — the fsync a
// durable send waits for — is paid once per batch instead of once per send. Each send keeps
// its own seq, replay and refusal: refusals are results, not exceptions, and write nothing.
//
// The statement is its own transaction (autocommit): one round trip per batch instead of
// three (BEGIN, the statement, COMMIT) — on a loaded machine each round trip is a socket
// write and a wake-up on both sides. A statement is atomic on its own, so a batch still
// commits all of it or nothing.
//
// There is no timer: a send starts a batch at once while fewer than `maxInFlight` batches
// are running, so an idle node adds no latency. Under load every slot is busy and sends queue;
// each finished batch takes up to `maxBatch` of them, so the batch grows with the load and
// the wait is one batch's duration (a few hundred µs to a few ms).
//
// A batch takes no conversation that a running batch holds: its sends wait in the queue
// instead of on the row lock, where they would stall the whole batch (and every batch behind
// it) until the other commits. One conversation's sends keep their order.
import { HeraldError } from '../protocol/index.ts';
import { type Composed, composeInTx, type SendSpec } from './compose.ts';
import type { Sql, Transactor } from './ports.ts';

export interface BatcherOptions {
  /** Sends per transaction at most. */
  maxBatch: number;
  /** Batches running at once (each holds a connection for one statement). */
  maxInFlight: number;
}

export const defaultBatcherOptions: BatcherOptions = { maxBatch: 64, maxInFlight: 4 };

interface Pending {
  spec: SendSpec;
  resolve(c: Composed): void;
  reject(err: unknown): void;
}

/** Deadlock, serialization failure: nothing committed, the send may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 3;

export class SendBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  /** Conversations of running batches. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly db: Sql,
    private readonly opts: BatcherOptions = defaultBatcherOptions,
  ) {}

  /** Resolves once the send's transaction committed; rejects with its refusal or the store's error. */
  submit(spec: SendSpec): Promise<Composed> {
    return new Promise((resolve, reject) => {
      this.queue.push({ spec, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      const waiting = new Set<string>(); // a conversation with a send left behind keeps its order
      for (const p of this.queue) {
        const k = keyOf(p.spec);
        if (batch.length < this.opts.maxBatch && !this.busy.has(k) && !waiting.has(k)) batch.push(p);
        else {
          rest.push(p);
          waiting.add(k);
        }
      }
      if (batch.length === 0) return; // every queued send waits for a running batch
      this.queue = rest;
      const held = new Set(batch.map((p) => keyOf(p.spec)));
      for (const k of held) this.busy.add(k);
      this.inFlight++;
      void this.run(batch).finally(() => {
        for (const k of held) this.busy.delete(k);
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    // Conversation locks are taken in one order by every batch: two batches never wait on
    // each other in a cycle over conversations.
    batch.sort((a, b) => compareSpecs(a.spec, b.spec));
    const tried = await this.attempt(batch.map((p) => p.spec));
    if ('outcomes' in tried) return settle(batch, tried.outcomes);
    if (!tried.beforeCommit) {
      // No answer from the server (the connection was lost mid-statement): whether the batch
      // committed is unknown, so nothing may run again (a send without client_id would be
      // written twice). The client retries by client_id.
      for (const p of batch) p.reject(tried.err);
      return;
    }
    if (batch.length === 1) return this.runAlone(batch[0], tried.err, 1);
    // Something the function does not turn into a refusal aborted the whole batch, which
    // committed nothing: run each send alone so the error reaches only the send it belongs to.
    for (const p of batch) await this.runAlone(p, null, 0);
  }

  private async runAlone(p: Pending, lastErr: unknown, attempts: number): Promise<void> {
    let err = lastErr;
    for (let n = attempts; n < MAX_ATTEMPTS; n++) {
      if (n > 0 && !isRetryable(err)) break;
      const tried = await this.attempt([p.spec]);
      if ('outcomes' in tried) return settle([p], tried.outcomes);
      err = tried.err;
      if (!tried.beforeCommit) break;
    }
    p.reject(err);
  }

  /** One statement, its own transaction; on failure, whether nothing was written for sure. */
  private async attempt(
    specs: SendSpec[],
  ): Promise<{ outcomes: (Composed | Error)[] } | { err: unknown; beforeCommit: boolean }> {
    try {
      return { outcomes: await composeInTx(this.db, specs) };
    } catch (err) {
      return { err, beforeCommit: refusedByServer(err) };
    }
  }
}

function settle(batch: Pending[], outcomes: (Composed | Error)[]): void {
  outcomes.forEach((out, i) => {
    if (out instanceof Error) batch[i].reject(out);
    else batch[i].resolve(out);
  });
}

/**
 * Whether the server answered the statement with an error (a SQLSTATE): an autocommit
 * statement that failed rolled back, so nothing of it was written. Anything else — the
 * connection lost (STORE_UNAVAILABLE), a reply that never came — leaves the outcome unknown.
 */
function refusedByServer(err: unknown): boolean {
  if (err instanceof HeraldError || typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  // A SQLSTATE: five digits or capitals, and no class starts with E — unlike Node's errno
  // codes (EPIPE, EBADF), which say nothing of the statement's fate.
  return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code);
}

function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE.has((err as { code?: string }).code ?? '');
}

const keyOf = (s: SendSpec) => `${s.tenant}\0${s.conversation}`;

function compareSpecs(a: SendSpec, b: SendSpec): number {
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  if (a.conversation !== b.conversation) return a.conversation < b.conversation ? -1 : 1;
  return 0; // stable sort: one conversation's sends keep their submission order
}

const batchers = new WeakMap<Transactor, SendBatcher>();

/** The store's batcher: one per Transactor, so every caller on one store shares its batches. */
export function batcherFor(db: Transactor): SendBatcher {
  let b = batchers.get(db);
  if (!b) {
    b = new SendBatcher(db);
    batchers.set(db, b);
  }
  return b;
}
