// The `herald` command as an operator runs it: real processes against this
// machine's PostgreSQL (a fresh database per test file), exit codes and output.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auth } from '../../src/auth/service.ts';
import { loadConfig } from '../../src/config.ts';
import { pgStore } from '../../src/store/pg/index.ts';
import { ensureTemplate, isInitialized, seedDataDir } from '../../src/store/pglite-template.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { REDIS_URL, redisAvailable } from '../support/redis.ts';
import { PG_ADMIN_URL } from '../support/stores.ts';

const BIN = new URL('../../bin/herald.mjs', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function herald(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

// Each test spawns real processes (tsx start-up is seconds on a loaded 2-core machine).
describe('herald CLI', { timeout: 120_000 }, () => {
  const name = `herald_cli_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const env = { DATABASE_URL: url, HERALD_JWT_SECRET: 'x'.repeat(40) };

  afterAll(async () => dropDatabase(name));

  it('--version prints the package version; an unknown command is a usage error', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const v = await herald(['--version']);
    expect(v).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const bad = await herald(['no-such-command']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'no-such-command'");
  });

  it('migrate creates the missing database, applies every migration, then is up to date', async () => {
    const first = await herald(['migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`created database ${name}`);
    expect(first.stdout).toMatch(/applied: 001_init\.sql/);
    const again = await herald(['migrate'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^herald: up to date$/m);
    expect(again.stdout).not.toContain('applied');
  });

  it('tenant create / list, apikey rotate and token mint work against the store', async () => {
    const created = await herald(['tenant', 'create', 'acme', '--name', 'Acme', '--json'], env);
    expect(created.code).toBe(0);
    const { tenant_id, api_key } = JSON.parse(created.stdout);
    expect(tenant_id).toBe('acme');
    expect(api_key).toMatch(/^hk_/);

    const dup = await herald(['tenant', 'create', 'acme'], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe('herald: CONFLICT: Tenant acme already exists.\n');

    const list = JSON.parse((await herald(['tenant', 'list', '--json'], env)).stdout);
    expect(list).toEqual([
      expect.objectContaining({ tenant_id: 'acme', name: 'Acme', api_keys: 1, users: 0 }),
    ]);

    const rotated = JSON.parse((await herald(['apikey', 'rotate', 'acme', '--json'], env)).stdout);
    expect(rotated).toMatchObject({ tenant_id: 'acme', revoked: 1 });
    expect(rotated.api_key).not.toBe(api_key);

    const minted = await herald(['token', 'mint', 'acme', 'alice'], env);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trim();

    const missing = await herald(['token', 'mint', 'nope', 'alice'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('TENANT_NOT_FOUND');

    // What the commands wrote is what a node sees: the old key is dead, the new one and the token work.
    const db = await openPostgres(url);
    try {
      const auth = await Auth.create(db, loadConfig({ ...env }));
      await expect(auth.tenantOfApiKey(api_key)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(auth.tenantOfApiKey(rotated.api_key)).resolves.toMatchObject({ tenant_id: 'acme' });
      await expect(auth.authenticate(token)).resolves.toMatchObject({ tenant_id: 'acme', user_id: 'alice' });
      // The audit log records both commands as the CLI's (the duplicate create wrote nothing).
      const { rows } = await db.query<{
        action: string;
        actor_type: string;
        details: Record<string, unknown>;
      }>("SELECT action, actor_type, details FROM audit_log WHERE tenant_id = 'acme' ORDER BY id");
      expect(rows).toEqual([
        { action: 'tenant.created', actor_type: 'cli', details: expect.objectContaining({ name: 'Acme' }) },
        { action: 'apikey.rotated', actor_type: 'cli', details: { revoked: 1 } },
      ]);
    } finally {
      await db.close();
    }
  });

  it('tail --once prints a conversation’s committed events in seq order', async () => {
    const db = await openPostgres(url);
    let conversation: string;
    try {
      const { createConversation } = await import('../../src/domain/conversations.ts');
      const { execute } = await import('../../src/domain/commands.ts');
      const { defaultLimits } = await import('../../src/domain/limits.ts');
      const { memoryViewing } = await import('../../src/registry/memory-viewing.ts');
      const deps = {
        db,
        ...pgStore,
        limits: defaultLimits,
        viewing: memoryViewing(),
      };
      await db.query(`INSERT INTO users (tenant_id, id) VALUES ('acme', 'bob') ON CONFLICT DO NOTHING`);
      ({ id: conversation } = await createConversation(
        deps,
        'acme',
        { type: 'user', user_id: 'alice' },
        { kind: 'group', title: 'Tail', members: ['bob'] },
      ));
      for (const body of ['one', 'two'])
        await execute(deps, 'acme', { kind: 'GroupMessage', sender: 'alice', conversation, input: { body } });
    } finally {
      await db.close();
    }
    const out = await herald(['tail', conversation, '--tenant', 'acme', '--once'], env);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^#2 .* group alice: one$/);
    expect(lines[2]).toMatch(/^#3 .* group alice: two$/);
    const json = await herald(
      ['tail', conversation, '--tenant', 'acme', '--once', '--json', '--since', '2'],
      env,
    );
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual([3]);
    const unknown = await herald(['tail', 'nope', '--tenant', 'acme', '--once'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('CONVERSATION_NOT_FOUND');
  });

  it('a configuration error names the variable, with no stack trace (exit 2)', async () => {
    const out = await herald(['serve'], { ...env, PORT: 'eighty' });
    expect(out.code).toBe(2);
    expect(out.stderr).toBe('herald: PORT must be an integer >= 0, got "eighty"\n');
  });

  describe('with a busy port', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('serve says which setting to change, with no stack trace (exit 1)', async () => {
      const out = await herald(['serve'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(`port ${port} is already in use: set PORT`);
      noStack(out.stderr);
    });

    it('doctor reports the busy port and a bad Redis with their fixes (exit 1), and passes when all is well', async () => {
      const bad = await herald(['doctor'], {
        ...env,
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: 'redis://127.0.0.1:1',
      });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^OK {4}PostgreSQL: 1[5-9]/m);
      expect(bad.stdout).toMatch(/^OK {4}migrations: \d+ applied$/m);
      expect(bad.stdout).toMatch(
        /^FAIL {2}Redis: 127\.0\.0\.1:1: .*\n {6}fix: start Redis or correct REDIS_URL/m,
      );
      expect(bad.stdout).toMatch(/^FAIL {2}port: 127\.0\.0\.1:\d+: in use .*\n {6}fix: set PORT/m);
      const good = await herald(['doctor', '--json'], {
        ...env,
        PORT: '0',
        HOST: '127.0.0.1',
        ...(redisAvailable() ? { REDIS_URL } : {}),
      });
      expect(good.code).toBe(0);
      const findings = JSON.parse(good.stdout) as { check: string; status: string }[];
      expect(findings.filter((f) => f.status === 'fail')).toEqual([]);
      expect(findings.map((f) => f.check)).toEqual(
        expect.arrayContaining([
          'Node.js',
          'configuration',
          'PostgreSQL',
          'migrations',
          'clock vs PostgreSQL',
          'port',
          'file descriptors',
        ]),
      );
    });
  });
});

describe('embedded store template', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-tpl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a new data directory starts as a copy of the template; an existing one is left alone', async () => {
    await ensureTemplate();
    const fresh = join(dir, 'fresh');
    await seedDataDir(fresh);
    expect(isInitialized(fresh)).toBe(true);
    // A directory with someone else's files is never copied over.
    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    await seedDataDir(foreign);
    expect(isInitialized(foreign)).toBe(false);
    expect(readFileSync(join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
  });
});
