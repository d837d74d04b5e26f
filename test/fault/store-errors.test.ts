// Which driver errors mean "the database is unreachable" (STORE_UNAVAILABLE,
// retryable) and which are bugs or bad input that must pass through; and
// that the PostgreSQL adapter fails fast, typed, when it cannot connect.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { toHeraldError } from '../../src/api/errors.ts';
import { HeraldError } from '../../src/protocol/index.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { asStoreError, isStoreUnavailable } from '../../src/store/unavailable.ts';
import { freePort } from '../support/redis.ts';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('store errors', () => {
  const servers: net.Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it.each([
    ['refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['reset', withCode('read ECONNRESET', 'ECONNRESET')],
    [
      'admin shutdown (pg_terminate_backend)',
      withCode('terminating connection due to administrator command', '57P01'),
    ],
    [
      'crash shutdown',
      withCode('terminating connection because of crash of another server process', '57P02'),
    ],
    ['starting up', withCode('the database system is starting up', '57P03')],
    ['connection failure (class 08)', withCode('connection failure', '08006')],
    ['dead socket', new Error('Connection terminated unexpectedly')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    [
      'several addresses refused',
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')]),
    ],
  ])('%s → STORE_UNAVAILABLE with Retry-After', (_name, err) => {
    expect(isStoreUnavailable(err)).toBe(true);
    const he = asStoreError(err) as HeraldError;
    expect(he).toBeInstanceOf(HeraldError);
    expect(he.code).toBe('STORE_UNAVAILABLE');
    expect(he.status).toBe(503);
    expect(he.retryAfter).toBeGreaterThanOrEqual(1);
    expect(he.cause).toBe(err);
    // A raw driver error reaching the HTTP layer is mapped the same way.
    expect(toHeraldError(err)?.code).toBe('STORE_UNAVAILABLE');
  });

  it.each([
    ['unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['syntax error', withCode('syntax error at or near "SELEC"', '42601')],
    ['serialization failure', withCode('could not serialize access', '40001')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'seq')")],
  ])('%s passes through unchanged', (_name, err) => {
    expect(isStoreUnavailable(err)).toBe(false);
    expect(asStoreError(err)).toBe(err);
    expect(toHeraldError(err)).toBeNull(); // → INTERNAL, logged with its stack
  });

  it('a server that is not there: queries and transactions reject at once with STORE_UNAVAILABLE', async () => {
    const db = await openPostgres(`postgres://postgres@127.0.0.1:${await freePort()}/none`);
    try {
      const t0 = Date.now();
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(db.transaction(async (tx) => tx.query('SELECT 1'))).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
      });
      await expect(db.listen('herald_outbox', () => {})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await db.close();
    }
  });

  it('a server that accepts but never answers: the connect timeout turns the hang into STORE_UNAVAILABLE', async () => {
    const silent = net.createServer(() => {}); // accepts, never speaks
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as net.AddressInfo;
    const db = await openPostgres(`postgres://postgres@127.0.0.1:${port}/none`, { connectTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await db.close();
    }
  });
});
