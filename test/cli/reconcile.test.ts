// The real `herald reconcile` process against a PostgreSQL database: exit codes a script can
// branch on (0 clean or fixed, 1 drift, 2 usage/config/store), the --json report, and
// operator errors without a stack trace.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import type { TenantReport } from '../../src/domain/reconcile.ts';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { depsOf } from '../domain/support.ts';
import { seedTenant } from '../support/fixtures.ts';
import { backends, createTestDatabase } from '../support/stores.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/herald.mjs …` with only the given store settings, and waits for it to exit. */
function herald(args: string[], env: Record<string, string>): Promise<Run> {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('HERALD_') || k === 'DATABASE_URL') delete base[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/herald.mjs', ...args], {
      cwd: root,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!backends().includes('postgres'))('herald reconcile (process, postgres)', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let env: Record<string, string>;
  let a: string;
  let b: string;
  let group: string;

  beforeAll(async () => {
    const tdb = await createTestDatabase();
    drop = tdb.drop;
    env = { DATABASE_URL: tdb.url };
    db = await openPostgres(tdb.url);
    await migrate(db);
    const deps = depsOf(db);
    a = await seedTenant(db, ['alice', 'bob', 'carol']);
    b = await seedTenant(db, ['alice', 'bob']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    group = (
      await createConversation(deps, a, alice, { kind: 'group', title: 'g', members: ['bob', 'carol'] })
    ).id;
    const other = (await createConversation(deps, b, alice, { kind: 'group', title: 'g', members: ['bob'] }))
      .id;
    for (const [tenant, conversation] of [
      [a, group],
      [b, other],
    ]) {
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation,
        input: { body: 'hi @bob', mentions: ['bob'] },
      });
    }
    await db.query(`UPDATE inbox_entries SET unread_count = 40 WHERE tenant_id = $1 AND user_id = 'bob'`, [
      a,
    ]);
    await db.query(`UPDATE inbox_entries SET mention_count = 3 WHERE tenant_id = $1 AND user_id = 'carol'`, [
      a,
    ]);
    await db.query(`UPDATE inbox_entries SET unread_count = 0 WHERE tenant_id = $1 AND user_id = 'bob'`, [b]);
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('exits 1 on drift with a JSON report, 0 after --fix, 0 when run again', async () => {
    const found = await herald(['reconcile', '--tenant', a, '--json'], env);
    expect(found.stderr).toBe('');
    expect(found.code).toBe(1);
    const report = JSON.parse(found.stdout) as {
      fix: boolean;
      checked: number;
      drifted: number;
      fixed: number;
      tenants: TenantReport[];
    };
    expect(report).toMatchObject({ fix: false, checked: 3, drifted: 2, fixed: 0 });
    expect(report.tenants.map((t) => t.tenant)).toEqual([a]);
    const byUser = Object.fromEntries(report.tenants[0].sample.map((d) => [d.user_id, d]));
    expect(byUser.bob).toMatchObject({
      conversation_id: group,
      stored: { unread_count: 40, mention_count: 1 },
      recounted: { unread_count: 1, mention_count: 1 },
    });
    expect(byUser.carol).toMatchObject({ stored: { mention_count: 3 }, recounted: { mention_count: 0 } });

    const fixed = await herald(['reconcile', '--tenant', a, '--fix', '--json'], env);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ fix: true, drifted: 2, fixed: 2 });
    const { rows } = await db.query<{ user_id: string; unread_count: number; mention_count: number }>(
      `SELECT user_id, unread_count, mention_count FROM inbox_entries
        WHERE tenant_id = $1 AND conversation_id = $2 AND user_id IN ('bob', 'carol') ORDER BY user_id`,
      [a, group],
    );
    expect(rows).toEqual([
      { user_id: 'bob', unread_count: 1, mention_count: 1 },
      { user_id: 'carol', unread_count: 1, mention_count: 0 },
    ]);

    const again = await herald(['reconcile', '--tenant', a], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`tenant ${a}: 3 entries checked, 0 drifted`);
    expect(again.stdout).toContain('no drift');

    // The other tenant was not touched by --tenant: --all still finds its entry.
    const all = await herald(['reconcile', '--all'], env);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain(`tenant ${b}: 2 entries checked, 1 drifted`);
    expect(all.stdout).toMatch(/bob in \S+: unread_count 0 -> 1/);
  }, 120_000);

  it('usage and configuration errors exit 2 with a message, never a stack trace', async () => {
    const [none, both, unknown, badUrl, noStore, help] = await Promise.all([
      herald(['reconcile'], env),
      herald(['reconcile', '--tenant', a, '--all'], env),
      herald(['reconcile', '--tenant', 'no-such-tenant'], env),
      herald(['reconcile', '--all'], { DATABASE_URL: 'mysql://localhost/x' }),
      herald(['reconcile', '--all'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' }),
      herald(['reconcile', '--help'], env),
    ]);
    for (const r of [none, both, unknown, badUrl, noStore]) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(none.stderr).toContain('--tenant <id>');
    expect(both.stderr).toContain('cannot be used with');
    expect(unknown.stderr).toContain('No such tenant: no-such-tenant');
    expect(badUrl.stderr).toContain('DATABASE_URL');
    expect(noStore.stderr).toContain('cannot open the store');
    expect(noStore.stderr).toContain('DATABASE_URL');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('stop the node first');
    expect(help.stdout).toContain('Exit codes');
  }, 120_000);
});
