// More chaos seeds than `npm test` runs, one after another (each run starts its
// own database and node):
//   node --import tsx test/client/chaos/cli.ts --seeds 50          # seeds 1..50
//   node --import tsx test/client/chaos/cli.ts --from 100 --seeds 20
//   node --import tsx test/client/chaos/cli.ts --seed 7 --trace    # one seed, every step
//   node --import tsx test/client/chaos/cli.ts --seeds 5 --duration 20000
//   node --import tsx test/client/chaos/cli.ts --seed 3 --faults '{"blackhole":0.5}'  # one fault, harder
// (`npm run chaos -- --seeds 50` is the same.) Failing seeds are printed with
// what differed and the command that reruns them; the exit code is 1 if any failed.
import { intFlag, parseSeedArgs, seedRange } from '../../support/seed-args.ts';
import { type ChaosResult, failureReport, rerunCommand, runChaos } from './run.ts';

interface Args {
  from: number;
  count: number;
  durationMs?: number;
  settleMs?: number;
  faults?: Record<string, unknown>;
  trace: boolean;
}

function parse(argv: string[]): Args {
  const { values } = parseSeedArgs(argv, {
    duration: { type: 'string' },
    settle: { type: 'string' },
    faults: { type: 'string' },
  });
  if (values.help) {
    console.log(
      'node --import tsx test/client/chaos/cli.ts [--seeds N] [--from N] [--seed N] [--duration MS] [--settle MS] [--faults JSON] [--trace]',
    );
    process.exit(0);
  }
  return {
    ...seedRange(values, 10),
    durationMs: intFlag(values, 'duration'),
    settleMs: intFlag(values, 'settle'),
    faults: values.faults === undefined ? undefined : JSON.parse(values.faults),
    trace: values.trace,
  };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  // An exception thrown in a client callback (e.g. an illegal state transition) fails the seed.
  let uncaught: string[] = [];
  process.on('uncaughtException', (err) => uncaught.push(`uncaught: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => uncaught.push(`unhandled rejection: ${String(err)}`));
  const failed: number[] = [];
  const started = Date.now();
  for (let seed = args.from; seed < args.from + args.count; seed++) {
    uncaught = [];
    let r: ChaosResult;
    try {
      r = await runChaos({
        seed,
        durationMs: args.durationMs,
        settleMs: args.settleMs,
        faults: args.faults,
        trace: args.trace ? (line) => console.log(`[${seed}] ${line}`) : undefined,
      });
    } catch (err) {
      r = { seed, failures: [`the run threw: ${(err as Error).stack}`], summary: '', ms: 0, settleMs: 0 };
    }
    r.failures.push(...uncaught);
    if (r.failures.length) {
      failed.push(seed);
      console.log(failureReport(r));
    } else {
      const took = `${(r.ms / 1000).toFixed(1)} s, converged ${(r.settleMs / 1000).toFixed(1)} s after faults off`;
      console.log(`seed ${seed} ok (${took})${args.trace ? `\n${r.summary}` : ''}`);
    }
  }
  const total = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`${args.count} seeds, ${failed.length} failed, ${total} s`);
  if (failed.length) {
    console.log(`failed seeds: ${failed.join(' ')}`);
    for (const s of failed) console.log(`  ${rerunCommand(s)}`);
    process.exitCode = 1;
  }
}

await main();
// Every run closes what it opened; if something still holds the process, say what and leave.
setTimeout(() => {
  console.error(
    `still running 10 s after the last seed; open: ${process.getActiveResourcesInfo().join(', ')}`,
  );
  process.exit(process.exitCode ?? 0);
}, 10_000).unref();
