// The bad inputs issue 9 found, one named case each (defects 3, 4, 5), so the
// reliability note can point at a test that fails on the old code: U+0000 and
// lone surrogates at every entry point, seqs beyond the column type on
// WebSocket and SSE, seqs past 2^31 end to end, and errors the router and
// Node's HTTP parser raised outside the catalog.
import { type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientErrorHandler } from '../../src/api/errors.ts';
import { MAX_SEQ } from '../../src/protocol/index.ts';
import { type Client, connect, type Served, subscribe, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { backends } from '../support/stores.ts';
import { catalogError, fingerprint } from './arbitraries.ts';

describe.each(backends())('bad input regressions (%s)', (backend) => {
  let t: TestHerald;
  let tenant: string;
  let apiKey: string;
  let alice: Awaited<ReturnType<TestHerald['mintUser']>>;
  let group: string;
  let ws: Served;

  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true, env: { HERALD_SEND_RATE_MAX: '10000' } });
    ({ tenant_id: tenant, api_key: apiKey } = await t.createTenant());
    alice = await t.mintUser(tenant, 'alice');
    await t.mintUser(tenant, 'bob');
    const res = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'group', title: 'g', members: ['bob'] },
    });
    group = res.body.conversation.id;
    ws = { url: `${t.url?.replace('http', 'ws')}/v1/ws` } as Served;
  }, 120_000); // PGlite takes ~5 s to start; far longer on a machine shared by many runs
  afterAll(async () => t?.close());

  /** Sends raw JSON text; expects `code` (and, for refusals, nothing written). */
  async function expectRefused(
    opts: { method: string; url: string; body?: string; as?: 'user' | 'apiKey' },
    code: string,
    pathHint?: string,
  ) {
    const before = await fingerprint(t.db);
    const res = await t.call<{
      error: { code: string; message: string; details?: { path: string; message: string }[] };
    }>({
      method: opts.method as 'POST',
      url: opts.url,
      headers: {
        ...(opts.as === 'apiKey' ? t.bearer(apiKey) : t.bearer(alice)),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { payload: opts.body } : {}),
    });
    expect(catalogError(res.status, res.body)).toBeNull();
    expect(res.body.error.code).toBe(code);
    // Where and what: the documented details (the message spells the path `body.body`, `params.id`).
    const detail = res.body.error.details?.[0];
    if (pathHint) expect(detail && `${detail.path} ${detail.message}`).toContain(pathHint);
    expect(await fingerprint(t.db)).toBe(before);
  }

  it('U+0000 and lone surrogates in bodies, ids, names and notice data: 400 VALIDATION_FAILED, nothing written', async () => {
    const msgs = `/v1/conversations/${group}/messages`;
    await expectRefused(
      { method: 'POST', url: msgs, body: '{"body":"a\\u0000b"}' },
      'VALIDATION_FAILED',
      'body/body',
    );
    await expectRefused(
      { method: 'POST', url: msgs, body: '{"body":"a\\ud800"}' },
      'VALIDATION_FAILED',
      'body/body',
    );
    await expectRefused(
      { method: 'POST', url: msgs, body: '{"body":"x","client_id":"\\u0000"}' },
      'VALIDATION_FAILED',
      'body/client_id',
    );
    await expectRefused(
      { method: 'POST', url: '/v1/conversations', body: '{"kind":"group","title":"t\\u0000"}' },
      'VALIDATION_FAILED',
      'body/title',
    );
    await expectRefused(
      { method: 'POST', url: '/v1/tokens', body: '{"user_id":"a\\u0000"}', as: 'apiKey' },
      'VALIDATION_FAILED',
      'body/user_id',
    );
    await expectRefused(
      {
        method: 'POST',
        url: '/v1/tokens',
        body: '{"user_id":"carol","display_name":"\\udc00"}',
        as: 'apiKey',
      },
      'VALIDATION_FAILED',
      'body/display_name',
    );
    const notice = (data: string) => `{"to":["alice"],"title":"t","body":"b","data":${data}}`;
    for (const [data, where] of [
      ['{"a":{"b":["x\\u0000"]}}', 'body/data/a/b/0'],
      ['{"k\\u0000":1}', 'body/data/k?'],
      ['{"a":"\\ud83d"}', 'body/data/a'],
      [`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'nest deeper than 32'],
    ]) {
      await expectRefused(
        { method: 'POST', url: '/v1/notices', body: notice(data), as: 'apiKey' },
        'VALIDATION_FAILED',
        where,
      );
    }
    // A well-formed pair (an emoji) is text like any other.
    const ok = await t.call({
      method: 'POST',
      url: msgs,
      headers: { ...t.bearer(alice), 'content-type': 'application/json' },
      payload: '{"body":"\\ud83d\\ude00"}',
    });
    expect(ok.status).toBe(201);
  });

  it('U+0000 in path and query parameters: 400 VALIDATION_FAILED', async () => {
    await expectRefused({ method: 'GET', url: '/v1/conversations/a%00b' }, 'VALIDATION_FAILED', 'params/id');
    await expectRefused({ method: 'PUT', url: '/v1/direct/a%00' }, 'VALIDATION_FAILED', 'params/user_id');
    await expectRefused(
      { method: 'GET', url: `/v1/conversations/${group}/members?after=a%00` },
      'VALIDATION_FAILED',
      'querystring/after',
    );
    await expectRefused({ method: 'GET', url: '/v1/inbox?x%00=1' }, 'VALIDATION_FAILED', 'querystring/x?');
  });

  it('U+0000, lone surrogates and deep nesting in WebSocket frames: error VALIDATION_FAILED, socket open', async () => {
    const c = await connect(ws, alice.access_token);
    const before = await fingerprint(t.db);
    c.send(`{"type":"send","conversation":"${group}","client_id":"n1","body":"a\\u0000"}`);
    c.send(`{"type":"send","conversation":"${group}","client_id":"n2","body":"x","mentions":["\\udfff"]}`);
    c.send('{"type":"subscribe","conversation":"a\\u0000b"}');
    c.send(`{"type":"heartbeat","resource":${'['.repeat(100)}${']'.repeat(100)}}`);
    await until(() => c.of('error').length === 4, 'four errors');
    expect(c.of('error').map((e) => e.code)).toEqual(Array(4).fill('VALIDATION_FAILED'));
    expect(c.of('error', (e) => e.ref === 'n1')[0].message).toContain('U+0000');
    expect(c.of('error', (e) => e.ref === 'n2')[0].message).toContain('unpaired surrogates');
    c.send({ type: 'ping' });
    await c.next('pong');
    expect(c.closed).toBeNull();
    expect(await fingerprint(t.db)).toBe(before);
    c.close();
  });

  it('subscribe.since_seq and read.seq beyond the column type or not integers: VALIDATION_FAILED, never INTERNAL', async () => {
    const c: Client = await connect(ws, alice.access_token);
    const bad = ['1e21', '-1', '1.5', '9007199254740992', '"5"', 'true', '{}'];
    for (const v of bad) c.send(`{"type":"subscribe","conversation":"${group}","since_seq":${v}}`);
    for (const v of bad) c.send(`{"type":"read","conversation":"${group}","seq":${v}}`);
    await until(() => c.of('error').length === bad.length * 2, 'an error per frame');
    expect(new Set(c.of('error').map((e) => e.code))).toEqual(new Set(['VALIDATION_FAILED']));
    // In range but past the head (3e9 > 2^31): the domain's INVALID_SEQ, from a bigint comparison.
    c.send(`{"type":"subscribe","conversation":"${group}","since_seq":3000000000}`);
    c.send(`{"type":"read","conversation":"${group}","seq":${MAX_SEQ}}`);
    await until(() => c.of('error').length === bad.length * 2 + 2, 'two more errors');
    expect(
      c
        .of('error')
        .slice(-2)
        .map((e) => e.code),
    ).toEqual(['INVALID_SEQ', 'INVALID_SEQ']);
    c.close();
  });

  it('SSE since_seq and Last-Event-ID out of range or malformed: 400 VALIDATION_FAILED before the stream', async () => {
    const sse = (query: string, headers: Record<string, string> = {}) =>
      fetch(`${t.url}/v1/sse?access_token=${alice.access_token}&conversations=${group}&${query}`, {
        headers,
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: { code: string } } }));
    for (const q of [
      'since_seq=1e21',
      'since_seq=-1',
      'since_seq=1.5',
      'since_seq=NaN',
      'since_seq=9007199254740992',
      `since_seq=${group}:3e9`,
      `since_seq=${group}:1.5`,
      'since_seq=1&since_seq=2',
      'conversations=a%00b',
    ]) {
      const r = await sse(q);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('VALIDATION_FAILED');
    }
    for (const id of [`${group}:1e21`, `${group}:-1`, `${group}:99999999999999999`, '%E0%A4%A:1']) {
      const r = await sse('', { 'last-event-id': id });
      expect(r.body.error.code, id).toBe('VALIDATION_FAILED');
    }
  });

  it('seqs past 2^31 are sent, edited, deleted, paged, read, left and replayed (bigint columns, migration 004)', async () => {
    const big = 2 ** 31 + 5;
    await t.db.query('UPDATE conversations SET last_seq = $3 WHERE tenant_id = $1 AND id = $2', [
      tenant,
      group,
      big,
    ]);
    const sent = await t.call<{ message: { seq: number; id: string } }>({
      method: 'POST',
      url: `/v1/conversations/${group}/messages`,
      headers: t.bearer(alice),
      payload: { body: 'past 2^31' },
    });
    expect(sent.status).toBe(201);
    expect(sent.body.message.seq).toBe(big + 1);
    const page = await t.call<{ messages: { seq: number }[] }>({
      method: 'GET',
      url: `/v1/conversations/${group}/messages?after_seq=${big}`,
      headers: t.bearer(alice),
    });
    expect(page.body.messages.map((m) => m.seq)).toEqual([big + 1]);
    const read = await t.call<{ entry: { last_read_seq: number } }>({
      method: 'POST',
      url: `/v1/conversations/${group}/read`,
      headers: t.bearer(alice),
      payload: { seq: big + 1 },
    });
    expect(read.body.entry.last_read_seq).toBe(big + 1);
    const msg = `/v1/conversations/${group}/messages/${sent.body.message.id}`;
    const edit = await t.call({
      method: 'PATCH',
      url: msg,
      headers: t.bearer(alice),
      payload: { body: 'edited' },
    });
    expect(edit.status).toBe(200);
    const del = await t.call({ method: 'DELETE', url: msg, headers: t.bearer(alice) });
    expect(del.status).toBe(200);
    const left = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${group}/members/bob`,
      headers: t.bearer(alice),
    });
    expect(left.status).toBe(200);
    const events = await t.call<{ events: { seq: number }[]; head_seq: number }>({
      method: 'GET',
      url: `/v1/conversations/${group}/events?after_seq=${big}`,
      headers: t.bearer(alice),
    });
    expect(events.body.events.map((e) => e.seq)).toEqual([big + 1, big + 2, big + 3, big + 4]);
    const inbox = await t.call({ method: 'GET', url: '/v1/inbox', headers: t.bearer(alice) });
    expect(inbox.status).toBe(200);
    const c = await connect(ws, alice.access_token);
    const sub = await subscribe(c, group, big);
    expect(sub).toMatchObject({ head_seq: big + 4, replayed: 4 });
    await until(() => c.seqs(group).length === 4, 'the replayed events');
    expect(c.seqs(group)).toEqual([big + 1, big + 2, big + 3, big + 4]);
    c.close();
  });

  it('malformed URLs and over-long parameters: the catalog shape, not the framework’s', async () => {
    const badUrl = await t.call({
      method: 'GET',
      url: '/v1/conversations/%E0%A4%A',
      headers: t.bearer(alice),
    });
    expect(badUrl).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(badUrl.headers['x-trace-id']).toBeTruthy();
    // Up to the router's limit the schema answers; beyond it, 414.
    const long = await t.call({
      method: 'GET',
      url: `/v1/conversations/${'x'.repeat(500)}`,
      headers: t.bearer(alice),
    });
    expect(long).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    const tooLong = await t.call({
      method: 'GET',
      url: `/v1/conversations/${'x'.repeat(2000)}`,
      headers: t.bearer(alice),
    });
    expect(tooLong).toMatchObject({ status: 414, body: { error: { code: 'URI_TOO_LONG' } } });
  });

  it('what Node’s HTTP parser refuses is answered in the catalog shape on the raw socket', async () => {
    const port = Number(new URL(t.url ?? '').port);
    const cases: [string, number, string][] = [
      [`POST /v1/inbox HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`, 400, 'BAD_REQUEST'],
      [
        `POST /v1/inbox HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
        400,
        'BAD_REQUEST',
      ],
      [`GET /v1/inbox HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['\u0001\u0002 junk\r\n\r\n', 400, 'BAD_REQUEST'],
    ];
    for (const [text, status, code] of cases) {
      const answer = await raw(port, text);
      expect(answer, JSON.stringify(text.slice(0, 60))).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body).toEqual({ error: { code, message: expect.any(String) } });
    }
  });

  it('a request not received in time is 408 REQUEST_TIMEOUT in the catalog shape', () => {
    // Node raises ERR_HTTP_REQUEST_TIMEOUT after requestTimeout (minutes): exercised directly.
    const written: string[] = [];
    let destroyed = false;
    const socket = {
      destroyed: false,
      writable: true,
      write: (s: string) => written.push(s),
      destroy: () => {
        destroyed = true;
      },
    } as unknown as Socket;
    clientErrorHandler(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
    expect(written[0]).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(JSON.parse(written[0].slice(written[0].indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 'REQUEST_TIMEOUT' },
    });
    expect(destroyed).toBe(true);
  });
});

function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => s.end(text));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      out += d;
    });
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
}
