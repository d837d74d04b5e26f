// Two processes on one embedded data directory (issue 9, defect 6): the
// second `herald serve` must refuse with one line that says what to do, and
// a restart after SIGKILL must take the dead holder's lock over by itself.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/store/data-dir-lock.ts';
import { type NodeProcess, startNode } from '../support/cluster.ts';
import { freePort } from '../support/redis.ts';
import { api } from './harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `herald serve` to its exit (it is expected to refuse) and returns what it said. */
async function serveUntilExit(
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  const proc = spawn(process.execPath, [join(root, 'bin', 'herald.mjs'), 'serve'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env, PORT: String(await freePort()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000); // a bound, should it start after all
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, out, ms: Date.now() - t0 };
}

describe('one process per embedded data directory', () => {
  const dirs: string[] = [];
  const nodes: NodeProcess[] = [];
  afterAll(async () => {
    for (const n of nodes) await n.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a second lock on a held directory is refused at once; after release it is free', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-lock-'));
    dirs.push(dir);
    const held = await lockDataDir(dir);
    const t0 = Date.now();
    await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirLockedError);
    // Refused on the holder's heartbeat, not after the staleness window.
    expect(Date.now() - t0).toBeLessThan(5_000);
    await held.release();
    const again = await lockDataDir(dir);
    await again.release();
  });

  it('a second `herald serve` on the same HERALD_DATA_DIR refuses with one line and a non-zero exit; after SIGKILL a restart takes over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-datadir-'));
    dirs.push(dir);
    const env = {
      HERALD_DATA_DIR: dir,
      DATABASE_URL: '',
      REDIS_URL: '',
      HERALD_DEMO: 'false',
      HERALD_DEV_TOKENS: 'false',
      HERALD_ADMIN_TOKEN: randomBytes(16).toString('hex'),
      HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    };
    // Bounds, not speed assertions: creating a PGlite data directory takes seconds, far more on a
    // loaded machine.
    const first = await startNode(env, 150_000);
    nodes.push(first);
    const t = await api(first.url, 'POST', '/v1/tenants', env.HERALD_ADMIN_TOKEN, { name: 'lock' });
    const key = t.body.api_key as string;
    const alice = (await api(first.url, 'POST', '/v1/tokens', key, { user_id: 'alice' })).body
      .access_token as string;
    const conv = (
      await api(first.url, 'POST', '/v1/conversations', alice, { kind: 'group', title: 'g', members: [] })
    ).body.conversation as { id: string };
    const sent = await api(first.url, 'POST', `/v1/conversations/${conv.id}/messages`, alice, {
      body: 'kept',
    });
    expect(sent.status).toBe(201);

    const second = await serveUntilExit(env);
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    const lines = second.out.trim().split('\n');
    const message = lines.find((l) => l.includes('HERALD_DATA_DIR'));
    expect(message, second.out).toMatch(
      /^herald: HERALD_DATA_DIR .* is in use by another running Herald process/,
    );
    expect(message).toContain('DATABASE_URL');
    expect(second.out).not.toMatch(/^\s+at /m); // no stack trace
    // The first node was not disturbed.
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    // SIGKILL leaves the lock behind; nobody refreshes it, so a restart takes it over.
    await first.kill('SIGKILL');
    const restarted = await startNode(env, 150_000);
    nodes.push(restarted);
    const history = await api(restarted.url, 'GET', `/v1/conversations/${conv.id}/messages`, alice);
    expect(history.status).toBe(200);
    expect((history.body.messages as { body: string }[]).map((m) => m.body)).toContain('kept');
  }, 300_000);
});
