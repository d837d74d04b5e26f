// `npm run bench`: side-by-side measurements on this machine's PostgreSQL.
// Each scenario runs 3 times; the median is reported. Results go to stdout
// as a Markdown table to paste into docs/benchmarks.md.
import { openTestStore } from '../test/support/stores.ts';
import { benchCompose, type ComposeResult } from './compose.ts';

function median<T>(runs: T[], key: (r: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)];
}

async function main() {
  const only = process.argv[2];
  if (!only || only === 'compose') {
    console.log('## Durable sends: Herald compose vs per-recipient loop (PostgreSQL 15, concurrency 16)\n');
    console.log('| members | sends | Herald sends/s | loop sends/s | ratio | Herald p99 ms | loop p99 ms |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [members, sends] of [
      [2, 3000],
      [10, 3000],
      [100, 1000],
      [1000, 200],
    ]) {
      const runs: ComposeResult[] = [];
      for (let r = 0; r < 3; r++) {
        const store = await openTestStore('postgres');
        try {
          runs.push(await benchCompose(store.db, members, sends));
        } finally {
          await store.close();
        }
      }
      const m = median(runs, (x) => x.herald_per_s);
      console.log(
        `| ${m.members} | ${m.sends} | ${m.herald_per_s} | ${m.naive_per_s} | ${m.ratio}× | ${m.herald_p99_ms} | ${m.naive_p99_ms} |`,
      );
    }
  }
}

await main();
