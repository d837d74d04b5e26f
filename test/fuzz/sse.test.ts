// Property-based fuzzing of the SSE parameters: conversations, since_seq (one
// seq or a per-conversation cursor), Last-Event-ID (header and query),
// device_id and stray or repeated keys, with hostile strings and numbers.
// A refusal is a catalog error before the stream starts; an accepted stream
// answers each conversation with `subscribed` or a catalog `error` — never
// INTERNAL — and nothing is written.

import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sseRoutes } from '../../src/gateway/sse.ts';
import { isErrorCode } from '../../src/protocol/index.ts';
import { aliceBobGroup, type Node, startNode } from '../gateway/harness.ts';
import { backends, openTestStore, type TestStore } from '../support/stores.ts';
import { catalogError, fingerprint, nastyNumberText, nastyString, pathSegment, runs } from './arbitraries.ts';

interface Frame {
  type: string;
  code?: string;
  ref?: string;
}

/** Reads a stream until `enough(frames)` or the deadline; returns the status and what came. */
async function readSse(
  url: string,
  headers: Record<string, string>,
  enough: (frames: Frame[]) => boolean,
): Promise<{ status: number; body: unknown; frames: Frame[] }> {
  const ctrl = new AbortController();
  const deadline = setTimeout(() => ctrl.abort(), 10_000);
  const frames: Frame[] = [];
  try {
    const res = await fetch(url, { headers, signal: ctrl.signal });
    if (res.status !== 200 || !res.body) return { status: res.status, body: await res.json(), frames };
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    while (!enough(frames)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        for (const line of buf.slice(0, i).split('\n'))
          if (line.startsWith('data: ')) frames.push(JSON.parse(line.slice(6)) as Frame);
        buf = buf.slice(i + 2);
      }
    }
    return { status: 200, body: null, frames };
  } finally {
    clearTimeout(deadline);
    ctrl.abort();
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

describe('SSE fuzz', () => {
  let store: TestStore;
  let node: Node;
  let app: FastifyInstance;
  let base: string;
  let tenant: string;
  let group: string;

  beforeAll(async () => {
    store = await openTestStore(backends().includes('postgres') ? 'postgres' : 'pglite');
    node = await startNode(store.db);
    // The route on its own, as a host mounts it: its parameter checks must not rely on Herald's app.
    app = Fastify();
    await app.register(sseRoutes, { gateway: node.gateway });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    ({ tenant, id: group } = await aliceBobGroup(node));
  });
  afterAll(async () => {
    await app?.close();
    await node?.close();
    await store?.close();
  });

  it('answers hostile since_seq, Last-Event-ID, conversations and stray keys without INTERNAL, writing nothing', async () => {
    const token = await node.token(tenant, 'bob');
    const conv = fc.oneof(fc.constant(group), fc.constant('nope'), nastyString);
    const seqText = fc.oneof(nastyNumberText, fc.nat({ max: 3 }).map(String));
    const cursor = fc
      .array(
        fc.tuple(
          conv.map((c) => pathSegment(c)),
          seqText,
        ),
        { minLength: 1, maxLength: 3 },
      )
      .map((entries) => entries.map(([c, s]) => `${c}:${s}`).join(','));
    const cursorOrJunk = fc.oneof(cursor, seqText, nastyString);
    const arb = fc.record({
      conversations: fc.option(fc.array(conv, { maxLength: 3 }), { nil: undefined }),
      since: fc.option(cursorOrJunk, { nil: undefined }),
      lastEventIdHeader: fc.option(cursorOrJunk, { nil: undefined }),
      lastEventIdQuery: fc.option(cursorOrJunk, { nil: undefined }),
      device: fc.option(nastyString, { nil: undefined }),
      extra: fc.array(
        fc.tuple(fc.oneof(nastyString, fc.constantFrom('conversations', 'since_seq')), nastyString),
        {
          maxLength: 2,
        },
      ),
    });
    const before = await fingerprint(store.db);
    let streams = 0;
    await fc.assert(
      fc.asyncProperty(arb, async (r) => {
        const q: [string, string][] = [['access_token', token]];
        const convParam = r.conversations?.map(pathSegment).join(',');
        if (convParam !== undefined) q.push(['conversations', convParam]);
        if (r.since !== undefined) q.push(['since_seq', pathSegment(r.since)]);
        if (r.lastEventIdQuery !== undefined) q.push(['last_event_id', pathSegment(r.lastEventIdQuery)]);
        if (r.device !== undefined) q.push(['device_id', pathSegment(r.device)]);
        for (const [k, v] of r.extra) q.push([pathSegment(k), pathSegment(v)]);
        const url = `${base}/v1/sse?${q.map(([k, v]) => `${k}=${v}`).join('&')}`;
        // Header values must be visible ASCII; anything else a client cannot even send.
        const headers: Record<string, string> =
          r.lastEventIdHeader !== undefined && /^[\x20-\x7e]*$/.test(r.lastEventIdHeader)
            ? { 'last-event-id': r.lastEventIdHeader }
            : {};
        // Each conversation is answered by `subscribed` or an `error` naming it.
        // (Split as the server splits the decoded value; a value that is not valid UTF-8 stays raw.)
        const decoded = convParam === undefined ? '' : safeDecode(convParam);
        const wanted = new Set(
          decoded
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean),
        ).size;
        const res = await readSse(url, headers, (fs) => {
          const answers = fs.filter((f) => f.type === 'subscribed' || f.type === 'error');
          return fs.some((f) => f.type === 'welcome') && answers.length >= wanted;
        });
        if (res.status !== 200) {
          expect(catalogError(res.status, res.body), url).toBeNull();
          return;
        }
        streams++;
        for (const f of res.frames.filter((x) => x.type === 'error'))
          expect(isErrorCode(f.code) && f.code !== 'INTERNAL', `${url} → ${JSON.stringify(f)}`).toBe(true);
      }),
      { numRuns: runs(120) },
    );
    expect(streams).toBeGreaterThan(0);
    expect(await fingerprint(store.db)).toBe(before);
  });
});
