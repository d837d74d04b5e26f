// `npm run sim -- --seeds 10000` runs seeds 1..10000 (or from --from N); `--seed N` runs one
// seed and prints its steps with --trace; `--workers N` splits the seeds over N processes
// (each opens its own PGlite, ~800 MB). Failing seeds are printed with the command that
// reruns them; the exit code is 1 if any failed.
import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { migrate } from '../../src/store/migrate.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { intFlag, parseSeedArgs, seedRange } from '../support/seed-args.ts';
import { runSeed, type SimResult } from './simulation.ts';

interface Args {
  from: number;
  count: number;
  trace: boolean;
  ops?: number;
  workers: number;
}

function parse(argv: string[]): Args {
  const { values } = parseSeedArgs(argv, { ops: { type: 'string' }, workers: { type: 'string' } });
  if (values.help) {
    console.log('npm run sim -- [--seeds N] [--from N] [--seed N] [--ops N] [--workers N] [--trace]');
    process.exit(0);
  }
  return {
    ...seedRange(values, 100),
    trace: values.trace,
    ops: intFlag(values, 'ops'),
    workers: Math.max(1, intFlag(values, 'workers') ?? 1),
  };
}

export function rerun(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}

function report(r: SimResult): void {
  console.log(`\nFAIL seed ${r.seed} (${r.steps} steps, ${r.ops} ops, digest ${r.digest})`);
  console.log(
    `  faults: ${JSON.stringify(r.faults, (_, v) => (typeof v === 'number' ? Number(v.toFixed(3)) : v))}`,
  );
  for (const f of r.failures) console.log(`  - ${f}`);
  console.log(`  rerun: ${rerun(r.seed)}   (add --trace to print every step)`);
}

/** Splits the seeds into contiguous ranges, one child process each; relays and sums their output. */
async function parallel(args: Args): Promise<void> {
  const started = Date.now();
  const per = Math.ceil(args.count / args.workers);
  const failed: number[] = [];
  let steps = 0;
  const children = [];
  for (let w = 0; w < args.workers; w++) {
    const from = args.from + w * per;
    const count = Math.min(per, args.from + args.count - from);
    if (count <= 0) break;
    const argv = ['--from', String(from), '--seeds', String(count)];
    if (args.ops !== undefined) argv.push('--ops', String(args.ops));
    const child = fork(fileURLToPath(import.meta.url), argv, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
    lines.on('line', (line) => {
      const f = /^FAIL seed (\d+)/.exec(line);
      if (f) failed.push(Number(f[1]));
      const t = /^\d+ seeds, \d+ failed, (\d+) steps/.exec(line);
      if (t) steps += Number(t[1]);
      if (line.trim() && !line.startsWith('failed seeds:') && !line.startsWith('  npm run sim'))
        console.log(`[w${w + 1}] ${line}`);
    });
    children.push(new Promise<void>((resolve) => child.on('exit', () => resolve())));
  }
  await Promise.all(children);
  const total = (Date.now() - started) / 1000;
  console.log(
    `\n${args.count} seeds on ${children.length} workers, ${failed.length} failed, ${steps} steps, total ${total.toFixed(1)} s (${Math.floor(total / 60)} min ${Math.round(total % 60)} s)`,
  );
  for (const s of failed.sort((a, b) => a - b).slice(0, 50)) console.log(`  ${rerun(s)}`);
  process.exit(failed.length ? 1 : 0);
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.workers > 1) return parallel(args);
  const started = Date.now();
  const db = await openPglite();
  await migrate(db);
  console.log(
    `store ready in ${((Date.now() - started) / 1000).toFixed(1)} s; seeds ${args.from}..${args.from + args.count - 1}`,
  );
  const runStart = Date.now();
  const failed: number[] = [];
  let steps = 0;
  for (let i = 0; i < args.count; i++) {
    const seed = args.from + i;
    const r = await runSeed(db, seed, {
      ops: args.ops,
      trace: args.trace ? (line) => console.log(`  ${line}`) : undefined,
    });
    steps += r.steps;
    if (!r.ok) {
      failed.push(seed);
      report(r);
    } else if (args.count === 1) {
      console.log(`seed ${seed} ok: ${r.steps} steps, ${r.ops} ops, digest ${r.digest}`);
      console.log(`  stats: ${JSON.stringify(r.stats)}`);
    }
    if ((i + 1) % 100 === 0 || i + 1 === args.count) {
      const s = (Date.now() - runStart) / 1000;
      console.log(
        `${i + 1}/${args.count} seeds, ${failed.length} failed, ${s.toFixed(0)} s (${((s * 1000) / (i + 1)).toFixed(0)} ms/seed)`,
      );
    }
  }
  const total = (Date.now() - started) / 1000;
  console.log(
    `\n${args.count} seeds, ${failed.length} failed, ${steps} steps, total ${total.toFixed(1)} s (${Math.floor(total / 60)} min ${Math.round(total % 60)} s)`,
  );
  if (failed.length) {
    console.log('failed seeds:');
    for (const s of failed.slice(0, 50)) console.log(`  ${rerun(s)}`);
  }
  await db.close();
  process.exit(failed.length ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
