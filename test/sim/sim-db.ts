// The store as the simulation sees it: one shared in-memory PGlite, reached by each node
// through its own SimDb. Every call a node makes (a query, or a whole transaction) first
// parks: it becomes a scheduling point that the scheduler releases when the seed says, so
// the order of store operations across nodes, clients and the relay is the seed's, not the
// event loop's. On release the seeded fault plan may fail it — before it runs, at one of
// the transaction's statements (rolled back), or after the commit (the caller sees an error
// for work that is durable: the ambiguous commit a lost connection gives). Only one
// released operation runs at a time; statements inside a transaction run straight through.
import type { Db, Row, Sql } from '../../src/store/db.ts';

/** What a lost connection looks like to the caller (pg's admin_shutdown code). */
export class SimStoreError extends Error {
  readonly code = '57P01';
  constructor(what: string) {
    super(`sim: store connection lost (${what})`);
    this.name = 'SimStoreError';
  }
}

/** The node died with this operation parked: it never ran. */
export class NodeCrashed extends Error {
  constructor(node: string) {
    super(`sim: node ${node} crashed`);
    this.name = 'NodeCrashed';
  }
}

export type StoreFault = 'none' | 'before' | 'during' | 'after-commit';

export interface Parked {
  readonly node: string;
  readonly label: string;
  /** Runs the operation with the fault the scheduler drew (failAt: the failing statement, 'during'). */
  release(fault: StoreFault, failAt: number): void;
  kill(err: Error): void;
}

/** The scheduler side: where parked operations wait, and the activity counters it watches. */
export interface StoreGate {
  park(p: Parked): void;
  /** Real store operations in flight (quiescence waits for zero). */
  outstanding: number;
  /** Bumped on every start and end of a real operation. */
  activity: number;
}

const short = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 48);

export class SimDb implements Db {
  readonly kind = 'pglite' as const;
  private dead: Error | null = null;
  private readonly parked = new Set<Parked>();

  constructor(
    private readonly base: Db,
    private readonly gate: StoreGate,
    readonly node: string,
  ) {}

  query<T extends Row = Row>(text: string, params?: unknown[]): Promise<{ rows: T[] }> {
    return this.enter(`q ${short(text)}`, async (fault) => {
      const res = await this.base.query<T>(text, params);
      if (fault === 'after-commit' || fault === 'during') throw new SimStoreError('reply lost');
      return res;
    });
  }

  exec(text: string): Promise<void> {
    return this.enter(`x ${short(text)}`, async (fault) => {
      await this.base.exec(text);
      if (fault === 'after-commit' || fault === 'during') throw new SimStoreError('reply lost');
    });
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.enter('tx', async (fault, failAt) => {
      let n = 0;
      const check = () => {
        if (fault === 'during' && n++ === failAt) throw new SimStoreError('mid-transaction');
      };
      const tx = (inner: Sql): Sql => ({
        async query<R extends Row = Row>(text: string, params?: unknown[]) {
          check();
          return inner.query<R>(text, params);
        },
        async exec(text: string) {
          check();
          return inner.exec(text);
        },
      });
      const out = await this.base.transaction((inner) => fn(tx(inner)));
      if (fault === 'after-commit') throw new SimStoreError('commit reply lost');
      return out;
    });
  }

  async listen(): Promise<() => Promise<void>> {
    // The scheduler drains relays itself: no NOTIFY wake-ups, so timing decides nothing.
    return async () => {};
  }

  onQuery(): void {}

  async close(): Promise<void> {}

  /** The node crashed: parked operations fail without running, later ones at once. */
  kill(): void {
    this.dead = new NodeCrashed(this.node);
    for (const p of [...this.parked]) p.kill(this.dead);
    this.parked.clear();
  }

  private enter<T>(label: string, run: (fault: StoreFault, failAt: number) => Promise<T>): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<T>((resolve, reject) => {
      const p: Parked = {
        node: this.node,
        label,
        release: (fault, failAt) => {
          this.parked.delete(p);
          if (fault === 'before') {
            reject(new SimStoreError('before'));
            return;
          }
          this.gate.outstanding++;
          this.gate.activity++;
          run(fault, failAt)
            .then(resolve, reject)
            .finally(() => {
              this.gate.outstanding--;
              this.gate.activity++;
            });
        },
        kill: (err) => reject(err),
      };
      this.parked.add(p);
      this.gate.park(p);
    });
  }
}
