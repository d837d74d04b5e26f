// The SSE downlink: personal room + chosen conversations, replay with
// since_seq, resumable with Last-Event-ID (a cursor over every conversation).
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { decodeCursor, encodeCursor, StreamCursor, sseRoutes } from '../../src/gateway/sse.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { type Frame, type Node, published, startNode, until } from './harness.ts';

interface SseEvent {
  id?: string;
  event?: string;
  data: Frame;
}

/** A tiny SSE reader over fetch: parses events as they stream in. */
function openSse(url: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  const ctrl = new AbortController();
  const state = { status: 0, ended: false };
  const done = (async () => {
    const res = await fetch(url, { headers, signal: ctrl.signal });
    state.status = res.status;
    if (!res.body || res.status !== 200) {
      events.push({ data: (await res.json()) as Frame });
      state.ended = true;
      return;
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i = buf.indexOf('\n\n');
      while (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: Partial<SseEvent> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) ev.id = line.slice(4);
          else if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.data) events.push(ev as SseEvent);
        i = buf.indexOf('\n\n');
      }
    }
    state.ended = true;
  })().catch(() => {
    state.ended = true;
  });
  return {
    events,
    state,
    frames: (type: string) => events.filter((e) => e.data.type === type),
    close: async () => {
      ctrl.abort();
      await done;
    },
  };
}

describe.each(backends())('gateway SSE (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db);
    app = Fastify();
    await app.register(sseRoutes, { gateway: node.gateway });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await node?.close();
    await store?.close();
  });

  it('cursor ids round-trip any conversation id', () => {
    const m = new Map([
      ['a:b,c', 3],
      ['plain', 10],
    ]);
    expect(decodeCursor(encodeCursor(m))).toEqual(m);
  });

  it('the stream cursor encodes each id once and rebuilds its text only when a seq changes', () => {
    const m = new Map([
      ['a:b,c', 3],
      ['plain', 10],
    ]);
    const cursor = new StreamCursor(m);
    expect(cursor.encoded()).toBe(encodeCursor(m));
    const encode = vi.spyOn(globalThis, 'encodeURIComponent');
    const texts: string[] = [];
    try {
      for (let seq = 11; seq < 100; seq++) {
        cursor.set('plain', seq);
        texts.push(cursor.encoded());
      }
      cursor.set('new one', 1);
      texts.push(cursor.encoded());
      cursor.set('new one', 1); // unchanged: the same text
      texts.push(cursor.encoded());
      expect(encode).toHaveBeenCalledTimes(1); // only the new conversation's id
    } finally {
      encode.mockRestore();
    }
    m.set('plain', 99);
    m.set('new one', 1);
    expect(texts.at(-1)).toBe(encodeCursor(m));
    expect(texts.at(-2)).toBe(texts.at(-1));
    expect(texts[0]).toBe('a%3Ab%2Cc:3,plain:11');
    expect(decodeCursor(cursor.encoded())).toEqual(m);
  });

  it('streams the personal room and conversations, and resumes from Last-Event-ID exactly once', async () => {
    const tenant = await seedTenant(store.db, ['alice', 'bob']);
    const deps = node.herald.deps;
    const alice = { type: 'user', user_id: 'alice' } as const;
    const g1 = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'one', members: ['bob'] })
    ).id;
    const g2 = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'two', members: ['bob'] })
    ).id;
    const post = (conversation: string, body: string) =>
      execute(deps, tenant, { kind: 'GroupMessage', sender: 'alice', conversation, input: { body } });
    await post(g1, 'early');
    await published(store.db, tenant);
    const token = await node.token(tenant, 'bob');

    const s = openSse(`${base}/v1/sse?conversations=${g1},${g2}&since_seq=0`, {
      authorization: `Bearer ${token}`,
    });
    await until(() => s.frames('subscribed').length === 2, 'two subscriptions');
    expect(s.frames('welcome')[0].data).toMatchObject({ user_id: 'bob', tenant_id: tenant });
    await post(g2, 'live');
    await until(() => s.frames('event').length === 4, 'replay and live'); // g1: 1,2  g2: 1,2
    await until(() => s.frames('inbox').length > 0, 'an inbox frame');
    const last = s.frames('event').at(-1);
    expect(decodeCursor(last?.id)).toEqual(
      new Map([
        [g1, 2],
        [g2, 2],
      ]),
    );
    await s.close();

    // Away: both conversations move on; resume with Last-Event-ID only.
    await post(g1, 'missed 1');
    await post(g2, 'missed 2');
    const r = openSse(`${base}/v1/sse?conversations=${g1},${g2}&access_token=${token}`, {
      'last-event-id': last?.id ?? '',
    });
    await until(() => r.frames('event').length === 2, 'the missed events');
    await post(g1, 'live again');
    await until(() => r.frames('event').length === 3, 'live after resume');
    const got = r.frames('event').map((e) => `${e.data.conversation === g1 ? 'g1' : 'g2'}:${e.data.seq}`);
    expect(got.sort()).toEqual(['g1:3', 'g1:4', 'g2:3'].sort());
    await r.close();
  });

  it('refuses missing or bad tokens with 401 and reports non-member conversations in-stream', async () => {
    const tenant = await seedTenant(store.db, ['alice', 'mallory']);
    const g = (
      await createConversation(
        node.herald.deps,
        tenant,
        { type: 'user', user_id: 'alice' },
        {
          kind: 'group',
          title: 'x',
          members: [],
        },
      )
    ).id;
    const none = openSse(`${base}/v1/sse`);
    await until(() => none.state.ended, 'the refusal');
    expect(none.state.status).toBe(401);
    expect(none.events[0].data).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    const m = openSse(
      `${base}/v1/sse?conversations=${g}&access_token=${await node.token(tenant, 'mallory')}`,
    );
    const err = await until(() => m.frames('error')[0], 'the error frame');
    expect(err.data).toMatchObject({ code: 'NOT_A_MEMBER', ref: g });
    await m.close();
  });
});
