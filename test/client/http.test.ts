// The HTTP half: error bodies become HeraldClientError with the catalog code.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeraldClientError, HeraldHttp } from '../../src/client/index.ts';
import { errorReply, FakeServer } from './fake-server.ts';

let server: FakeServer;
beforeEach(async () => {
  server = await FakeServer.start();
});
afterEach(async () => {
  await server.close();
});

describe('HeraldHttp', () => {
  it('maps an error body to its catalog code and status', async () => {
    server.onHttp = () => errorReply(403, 'NOT_A_MEMBER', 'You are not a member');
    const http = new HeraldHttp({ baseUrl: server.url, token: () => 't' });
    const err = await http.messages('c1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldClientError);
    expect(err).toMatchObject({ code: 'NOT_A_MEMBER', status: 403, message: 'You are not a member' });
  });

  it('unknown codes and non-JSON replies still yield a coded error', async () => {
    server.onHttp = () => ({ status: 502, body: { error: { code: 'WHO_KNOWS', message: 'x' } } });
    const http = new HeraldHttp({ baseUrl: server.url, token: () => 't' });
    await expect(http.inbox()).rejects.toMatchObject({ code: 'INTERNAL', status: 502 });
  });

  it('a request not fully answered within timeoutMs fails NETWORK_ERROR (retryable); the caller may still abort', async () => {
    // Headers, then silence: the body never completes, as on a connection whose path died.
    const stalled = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"entries":[');
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
    try {
      const http = new HeraldHttp({ baseUrl: url, token: () => 't', timeoutMs: 200 });
      const started = Date.now();
      const err = await http.inbox().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
      expect((err as Error).message).toContain('200 ms');
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      // The caller's own abort is still an abort (not dressed up as a timeout).
      const patient = new HeraldHttp({ baseUrl: url, token: () => 't', timeoutMs: 60_000 });
      const ctl = new AbortController();
      const pending = patient.events('c1', 0, 10, { signal: ctl.signal }).catch((e: unknown) => e);
      setTimeout(() => ctl.abort(), 50);
      const aborted = await pending;
      expect(aborted).toMatchObject({ code: 'NETWORK_ERROR' });
      expect((aborted as Error).message).not.toContain('ms');
    } finally {
      stalled.closeAllConnections();
      await new Promise((r) => stalled.close(r));
    }
  });

  it('a network failure is NETWORK_ERROR', async () => {
    const http = new HeraldHttp({ baseUrl: 'http://127.0.0.1:1', token: () => 't' });
    await expect(http.inbox()).rejects.toMatchObject({ code: 'NETWORK_ERROR' });
  });

  it('postMessage sends the client_id as Idempotency-Key; a retry returns the same message', async () => {
    const http = new HeraldHttp({ baseUrl: server.url, token: () => 't' });
    const a = await http.postMessage('c1', { body: 'hi', client_id: 'k1' });
    const b = await http.postMessage('c1', { body: 'hi', client_id: 'k1' });
    expect(b.message.id).toBe(a.message.id);
    expect(server.requests[0].headers['idempotency-key']).toBe('k1');
    expect(server.log('c1')).toHaveLength(1);
  });

  it('markRead, direct and history call the documented routes', async () => {
    const http = new HeraldHttp({ baseUrl: `${server.url}/`, token: () => 't' });
    server.append('c 1', 'x');
    expect((await http.markRead('c 1', 1)).entry.last_read_seq).toBe(1);
    expect((await http.direct('u2')).conversation.id).toBe('dm-u2');
    expect((await http.messages('c 1', { afterSeq: 0 })).messages).toHaveLength(1);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/conversations/c%201/read',
      'PUT /v1/direct/u2',
      'GET /v1/conversations/c%201/messages',
    ]);
  });
});

describe('randomId', () => {
  it('falls back to getRandomValues when randomUUID is missing (insecure browser contexts)', async () => {
    const { randomId } = await import('../../src/client/uuid.ts');
    const original = globalThis.crypto.randomUUID;
    Object.defineProperty(globalThis.crypto, 'randomUUID', { value: undefined, configurable: true });
    try {
      const id = randomId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(randomId()).not.toBe(id);
    } finally {
      Object.defineProperty(globalThis.crypto, 'randomUUID', { value: original, configurable: true });
    }
  });
});
