// The deterministic simulation in `npm test`: a bounded number of seeds (SIM_SEEDS, default
// below, sized for about a minute on a 2-core machine), each a full run with faults and the
// invariant checks; plus proof that a seed reproduces exactly. `npm run sim -- --seeds 10000`
// runs many more (test/sim/cli.ts).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { runSeed, type SimResult } from './simulation.ts';

// Seeds 1..200 of 15 operations each, within a wall-clock budget of 60 s: about 55 s of CPU
// on this 2-core machine when it is otherwise idle (a seed costs ~0.3 s of CPU; the PGlite start
// ~5 s more). On a loaded machine the budget stops the run early — but never before MIN_SEEDS —
// so the suite stays bounded; the seeds that ran are a deterministic prefix and are logged.
const SEEDS = Number(process.env.SIM_SEEDS ?? 200);
const MIN_SEEDS = Math.min(SEEDS, Number(process.env.SIM_MIN_SEEDS ?? 25));
const BUDGET_MS = Number(process.env.SIM_BUDGET_MS ?? 60_000);
const OPS = Number(process.env.SIM_OPS ?? 15);
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

describe('deterministic simulation', () => {
  let db: Db;
  // PGlite takes ~5 s to start on an idle machine, far longer on a loaded one.
  beforeAll(async () => {
    db = await openPglite();
    await migrate(db);
  }, 300_000);
  afterAll(async () => {
    await db?.close();
  });

  // How a failing seed is rerun: `npm run sim -- --seed N`, a fresh process. Two fresh processes
  // must take the same steps. (Twice in one process is not guaranteed: the store's warm-up after
  // the first run changes which calls are still in flight when the scheduler looks for quiet —
  // seed 7 diverged at step 68 that way after this round's merges.)
  it('a seed rerun the way its failure says (a fresh `npm run sim -- --seed N`) takes the same steps', async () => {
    const rerun = (seed: number) =>
      new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', CLI, '--seed', String(seed), '--ops', String(OPS)],
          { timeout: 120_000 },
          (err, stdout) => (err ? reject(err) : resolve(/digest (\w+)/.exec(stdout)?.[1] ?? '')),
        );
      });
    const [a, b, other] = await Promise.all([rerun(7), rerun(7), rerun(8)]);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(b).toBe(a);
    // And the digest really describes the run: another seed takes other steps.
    expect(other).not.toBe(a);
  }, 180_000);

  it(`up to ${SEEDS} seeds hold every invariant`, async () => {
    const failed: SimResult[] = [];
    const deadline = Date.now() + BUDGET_MS;
    let seed = 1;
    for (; seed <= SEEDS && (seed <= MIN_SEEDS || Date.now() < deadline); seed++) {
      const r = await runSeed(db, seed, { ops: OPS });
      if (!r.ok) failed.push(r);
    }
    console.log(`simulation: seeds 1..${seed - 1} of ${OPS} ops ran, ${failed.length} failed`);
    const report = failed.map(
      (r) =>
        `seed ${r.seed}: ${r.failures.join('; ')}\n  rerun: npm run sim -- --seed ${r.seed} --ops ${OPS} --trace`,
    );
    expect(report).toEqual([]);
  }, 600_000);
});
