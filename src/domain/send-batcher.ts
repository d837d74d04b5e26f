// Group commit for sends (DESIGN §6 "write in batches"). Concurrent sends share one
// transaction and one statement (MessageLog.send over the batch), so a commit — the fsync a
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
import { type Composed, composeInTx, type SendSpec } from './compose.ts';
import type { DomainDeps } from './context.ts';
import type { MessageLog, SendFailure } from './message-log.ts';
import type { Transactor } from './ports.ts';

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

const MAX_ATTEMPTS = 3;

export class SendBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  /** Conversations of running batches. */
  private readonly busy = new Set<string>();

  /** `log`: the store's message log over a connection (each batch its own transaction). */
  constructor(
    private readonly log: MessageLog,
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
    if (tried.failure.outcome === 'unknown') {
      // No answer from the server (the connection was lost mid-statement): whether the batch
      // committed is unknown, so nothing may run again (a send without client_id would be
      // written twice). The client retries by client_id.
      for (const p of batch) p.reject(tried.err);
      return;
    }
    if (batch.length === 1) return this.runAlone(batch[0], tried, 1);
    // Something the store does not turn into a refusal aborted the whole batch, which
    // committed nothing: run each send alone so the error reaches only the send it belongs to.
    for (const p of batch) await this.runAlone(p, null, 0);
  }

  private async runAlone(p: Pending, last: Failed | null, attempts: number): Promise<void> {
    let failed = last;
    for (let n = attempts; n < MAX_ATTEMPTS; n++) {
      if (failed && !(failed.failure.outcome === 'rolled-back' && failed.failure.retryable)) break;
      const tried = await this.attempt([p.spec]);
      if ('outcomes' in tried) return settle([p], tried.outcomes);
      failed = tried;
      if (tried.failure.outcome === 'unknown') break;
    }
    p.reject(failed?.err);
  }

  /** One statement, its own transaction; on failure, what the store says it left behind. */
  private async attempt(specs: SendSpec[]): Promise<{ outcomes: (Composed | Error)[] } | Failed> {
    try {
      return { outcomes: await composeInTx(this.log, specs) };
    } catch (err) {
      return { err, failure: this.log.sendFailure(err) };
    }
  }
}

interface Failed {
  err: unknown;
  failure: SendFailure;
}

function settle(batch: Pending[], outcomes: (Composed | Error)[]): void {
  outcomes.forEach((out, i) => {
    if (out instanceof Error) batch[i].reject(out);
    else batch[i].resolve(out);
  });
}

const keyOf = (s: SendSpec) => `${s.tenant}\0${s.conversation}`;

function compareSpecs(a: SendSpec, b: SendSpec): number {
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  if (a.conversation !== b.conversation) return a.conversation < b.conversation ? -1 : 1;
  return 0; // stable sort: one conversation's sends keep their submission order
}

const batchers = new WeakMap<Transactor, SendBatcher>();

/** The store's batcher: one per Transactor, so every caller on one store shares its batches. */
export function batcherFor(deps: Pick<DomainDeps, 'db' | 'sendDb' | 'writes'>): SendBatcher {
  const db = deps.sendDb ?? deps.db;
  let b = batchers.get(db);
  if (!b) {
    b = new SendBatcher(deps.writes(db).log);
    batchers.set(db, b);
  }
  return b;
}
