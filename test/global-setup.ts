// Checks the services the suite needs. Locally a missing PostgreSQL/Redis
// only skips the tests that need them; in CI (CI=true) it fails the run.
import net from 'node:net';
import { ensureTemplate } from '../src/store/pglite-template.ts';

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

export default async function setup() {
  const pg = await reachable(5432);
  const redis = await reachable(6379);
  if (process.env.CI === 'true') {
    const missing = [!pg && 'PostgreSQL (5432)', !redis && 'Redis (6379)'].filter(Boolean);
    if (missing.length) throw new Error(`CI requires ${missing.join(' and ')}`);
  }
  // Every PGlite store of the suite starts as a copy of this (npm ci already made it).
  await ensureTemplate();
  process.env.HERALD_TEST_PG = pg ? '1' : '';
  process.env.HERALD_TEST_REDIS = redis ? '1' : '';
}
