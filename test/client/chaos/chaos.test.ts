// The SDK chaos test (issue 13): SDK clients and a
// real `herald serve` on PostgreSQL, every byte through the seeded
// fault-injecting proxy, a node restart in the middle; after the faults stop
// every client must converge on the server's state (test/client/chaos/run.ts,
// checks.ts). Run it with `npm run chaos -- --seeds 50`, or here:
// CHAOS_SEEDS=1,2,3 npx vitest run test/client/chaos/chaos.test.ts
// Seeds 1–3 run in the default `npm test`; CHAOS_SEEDS replaces them.
import { describe, expect, it } from 'vitest';
import { failureReport, runChaos } from './run.ts';

const seeds = (process.env.CHAOS_SEEDS ?? '1,2,3')
  .split(',')
  .filter((s) => s.trim() !== '')
  .map((s) => Number(s.trim()));
const enabled = process.env.HERALD_TEST_PG !== '' && seeds.length > 0;

describe.skipIf(!enabled)('SDK chaos against a real node (seeded faults, a restart)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: every client converges on the server's history, sends once each, inbox`, async () => {
      const r = await runChaos({ seed });
      // The report names the seed, its plan, what differed and the command that reruns it.
      if (r.failures.length) expect.fail(failureReport(r));
    }, 120_000);
  }
});
