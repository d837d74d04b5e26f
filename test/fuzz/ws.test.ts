// Property-based fuzzing of the WebSocket client frames: every frame type with
// hostile fields (U+0000, lone surrogates, huge and fractional numbers, deep
// nesting, wrong types, prototype keys), through the parser, through a live
// session on a real store (every answer awaited), and over a real socket —
// including 100,000 bad frames with the heap measured after forced GCs.
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseClientFrame } from '../../src/gateway/client-frames.ts';
import { Session, type Sink } from '../../src/gateway/session.ts';
import { CLOSE, type ClientFrame, isErrorCode, isSeq } from '../../src/protocol/index.ts';
import { aliceBobGroup, connect, type Node, startNode, until } from '../gateway/harness.ts';
import { seedTenant } from '../support/fixtures.ts';
import { backends, openTestStore, type TestStore } from '../support/stores.ts';
import {
  fieldText,
  fingerprint,
  hasUnsafeText,
  jsonText,
  nastyNumber,
  nastyString,
  runs,
} from './arbitraries.ts';

/** The fields of every client frame type; a new frame type is a compile error here until listed. */
const FIELDS = {
  auth: ['token'],
  subscribe: ['conversation', 'since_seq'],
  unsubscribe: ['conversation'],
  send: ['conversation', 'client_id', 'body', 'reply_to', 'mentions', 'attachments'],
  read: ['conversation', 'seq'],
  thread_read: ['conversation', 'root_id', 'seq'],
  delivered: ['conversation', 'seq'],
  view: ['conversation'],
  typing: ['conversation'],
  heartbeat: ['status', 'resource'],
  ping: [],
  react: ['conversation', 'message_id', 'emoji', 'remove'],
  vote: ['conversation', 'message_id', 'option'],
} as const satisfies Record<ClientFrame['type'], readonly string[]>;
type FrameType = keyof typeof FIELDS;

/** Close codes a bad frame may end a connection with (docs/protocol.md, Close codes). */
const DOCUMENTED_CLOSES: number[] = [CLOSE.PROTOCOL_ERROR, CLOSE.RATE_LIMITED, 1009];

/** A frame as JSON text: each field well-formed, hostile, missing, or of the wrong type; plus extra keys. */
function frameText(ids: { group: string; message: string }): fc.Arbitrary<string> {
  const type = fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom(...(Object.keys(FIELDS) as FrameType[])) },
    { weight: 1, arbitrary: nastyString },
  );
  const good: Record<string, fc.Arbitrary<string>> = {
    conversation: fc.constantFrom(ids.group, 'nope', randomUUID()).map((s) => JSON.stringify(s)),
    client_id: fc.uuid().map((s) => JSON.stringify(s)),
    body: fc.constantFrom('"hi"', '""', '"   "'),
    since_seq: fc.nat({ max: 5 }).map(String),
    seq: fc.nat({ max: 5 }).map(String),
    reply_to: fc.constant(JSON.stringify(ids.message)),
    root_id: fc.constantFrom(ids.message, 'nope').map((s) => JSON.stringify(s)),
    mentions: fc.constant('["bob"]'),
    attachments: fc.constant('[{"name":"a","mime_type":"text/plain","size":1,"url":"https://x/a"}]'),
    status: fc.constantFrom('"active"', '"away"'),
    resource: fc.constant('"web"'),
    token: fc.constant('"not-a-token"'),
  };
  const value = (field: string) =>
    fc.oneof(
      { weight: 3, arbitrary: good[field] ?? jsonText },
      { weight: 2, arbitrary: nastyString.map((s) => JSON.stringify(s)) },
      { weight: 2, arbitrary: nastyNumber.map((n) => JSON.stringify(n)) },
      { weight: 2, arbitrary: fieldText },
    );
  return type.chain((t) => {
    const fields: readonly string[] = Object.hasOwn(FIELDS, t) ? FIELDS[t as FrameType] : [];
    return fc
      .tuple(
        fc.tuple(...fields.map((f) => fc.option(value(f), { nil: undefined, freq: 4 }))),
        // Unknown fields are refused as in HTTP bodies: in a quarter of the frames, so that the
        // rest can get past the parser.
        fc.oneof(
          { weight: 3, arbitrary: fc.constant([] as [string, string][]) },
          {
            weight: 1,
            arbitrary: fc.array(
              fc.tuple(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor')), jsonText),
              { minLength: 1, maxLength: 2 },
            ),
          },
        ),
      )
      .map(([vals, extra]) => {
        const parts = [`"type":${JSON.stringify(t)}`];
        fields.forEach((f, i) => {
          if (vals[i] !== undefined) parts.push(`${JSON.stringify(f)}:${vals[i]}`);
        });
        for (const [k, v] of extra) parts.push(`${JSON.stringify(k)}:${v}`);
        return `{${parts.join(',')}}`;
      });
  });
}

/** Any text a client could put in a text frame: frames as above, other JSON, or no JSON at all. */
const anyText = (ids: { group: string; message: string }) =>
  fc.oneof(
    { weight: 8, arbitrary: frameText(ids) },
    { weight: 1, arbitrary: jsonText },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  );

/** Whether an accepted frame holds only storable strings and safe seqs. */
function wellFormed(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return !hasUnsafeText(v);
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object' || v === null) return true;
  if (depth > 32) return false;
  return Object.entries(v).every(([k, x]) => !hasUnsafeText(k) && wellFormed(x, depth + 1));
}

/** Forced full GCs: --expose-gc cannot be passed to vitest's forks, so the flag is set at run time. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

describe('WebSocket fuzz', () => {
  const backend = backends().includes('postgres') ? 'postgres' : 'pglite';
  let store: TestStore;
  let node: Node;
  let ids: { tenant: string; group: string; message: string };

  beforeAll(async () => {
    store = await openTestStore(backend);
    // No frame limit: the flood below is about bad input, not about the rate limit.
    node = await startNode(store.db, { frameRate: { perSec: 1e9, burst: 1e9 } });
    const { tenant, id } = await aliceBobGroup(node);
    await seedTenant(store.db); // another tenant, so cross-tenant ids exist
    const sent = await node.herald.deps.db.query<{ id: string }>(
      'SELECT id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 LIMIT 1',
      [tenant, id],
    );
    ids = { tenant, group: id, message: sent.rows[0]?.id ?? 'm' };
  });
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  it('the parser answers every frame with a frame or a catalog error, never throws, never passes hostile text', () => {
    fc.assert(
      fc.property(anyText(ids), (text) => {
        const parsed = parseClientFrame(text);
        if (parsed.ok) {
          expect(wellFormed(parsed.frame), text).toBe(true);
          const f = parsed.frame as Record<string, unknown>;
          for (const k of ['since_seq', 'seq']) if (f[k] !== undefined) expect(isSeq(f[k]), text).toBe(true);
          return;
        }
        expect(isErrorCode(parsed.code) && parsed.code !== 'INTERNAL', text).toBe(true);
        // Only a frame that is not a JSON object ends the connection.
        expect(parsed.fatal, text).toBe(parsed.code === 'BAD_REQUEST');
      }),
      { numRuns: runs(3000) },
    );
  });

  it('a live session answers every parsed frame without INTERNAL, and a refused frame writes nothing', async () => {
    const out: string[] = [];
    const closes: number[] = [];
    const sink: Sink = {
      transport: 'ws',
      write: (text) => out.push(text),
      urgent: (text) => out.push(text),
      bufferedAmount: () => 0,
      close: (code) => closes.push(code),
      cut: (code) => {
        closes.push(code);
        return 0;
      },
    };
    const core = node.gateway.core;
    const session = new Session(core, sink, {
      id: randomUUID(),
      tenant: ids.tenant,
      user: 'alice',
      device: 'fuzz',
      expiresMs: Date.now() + 3_600_000,
    });
    core.sessions.add(session);
    await session.start();
    let handled = 0;
    try {
      await fc.assert(
        fc.asyncProperty(frameText(ids), async (text) => {
          const parsed = parseClientFrame(text);
          if (!parsed.ok || parsed.frame.type === 'auth') return; // auth is the transport's (below)
          const before = await fingerprint(store.db);
          const from = out.length;
          handled++;
          await session.handle(parsed.frame);
          const answers = out.slice(from).map((t) => JSON.parse(t) as { type: string; code?: string });
          const errors = answers.filter((a) => a.type === 'error');
          for (const e of errors) {
            expect(isErrorCode(e.code) && e.code !== 'INTERNAL', `${text} → ${JSON.stringify(e)}`).toBe(true);
          }
          if (errors.length > 0)
            expect(await fingerprint(store.db), `${text} wrote while refusing`).toBe(before);
          expect(closes, text).toEqual([]);
        }),
        { numRuns: runs(400) },
      );
      // Not vacuous: a good share of the frames got past the parser into the session.
      expect(handled).toBeGreaterThan(runs(400) / 10);
    } finally {
      core.sessions.delete(session);
      await session.dispose();
    }
  });

  it('over a real socket: catalog errors or documented close codes only, and the node keeps serving', async () => {
    const token = await node.token(ids.tenant, 'bob');
    await fc.assert(
      fc.asyncProperty(fc.array(anyText(ids), { minLength: 1, maxLength: 20 }), async (texts) => {
        const c = await connect(node, token);
        for (const t of texts) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(t);
        if (c.ws.readyState === WebSocket.OPEN) c.send({ type: 'ping' });
        await until(() => c.closed || c.of('pong').length > 0, 'a pong or a close');
        for (const e of c.of('error'))
          expect(isErrorCode(e.code) && e.code !== 'INTERNAL', JSON.stringify(e)).toBe(true);
        if (c.closed) expect(DOCUMENTED_CLOSES, JSON.stringify(texts)).toContain(c.closed.code);
        c.close();
      }),
      { numRuns: runs(40) },
    );
    const probe = await connect(node, token);
    probe.send({ type: 'ping' });
    await probe.next('pong');
    probe.close();
  });

  it('100,000 bad frames on one socket: one error each, no INTERNAL, nothing written, no heap growth', async () => {
    // Bad frames of every kind, each refused by the parser without closing the socket.
    const bad = fc
      .sample(frameText(ids), { numRuns: 4000, seed: 7 })
      .filter((t) => {
        const p = parseClientFrame(t);
        return !p.ok && !p.fatal && t.length < 1000;
      })
      .slice(0, 500);
    expect(bad.length).toBeGreaterThan(100);
    const token = await node.token(ids.tenant, 'bob');
    const ws = new WebSocket(node.url, { headers: { authorization: `Bearer ${token}` } });
    let received = 0;
    let internal = 0;
    let welcomed = false;
    let closed: number | null = null;
    ws.on('message', (d) => {
      const text = d.toString();
      if (!welcomed) welcomed = text.startsWith('{"type":"welcome"');
      else if (text.startsWith('{"type":"error"')) {
        received++;
        if (text.startsWith('{"type":"error","code":"INTERNAL"')) internal++;
      }
    });
    ws.on('close', (code) => {
      closed = code;
    });
    await until(() => welcomed, 'welcome');
    let sent = 0;
    // Sends in chunks and waits for the answers: the socket never backs up, so the heap holds
    // only what the server keeps per frame after answering it.
    const flood = async (n: number) => {
      for (let done = 0; done < n; done += 2000) {
        for (let i = 0; i < 2000 && done + i < n; i++) ws.send(bad[sent++ % bad.length]);
        await until(() => received >= sent || closed !== null, 'the answers', 20_000);
      }
    };
    const gc = collector();
    const before = await fingerprint(store.db);
    await flood(10_000); // warm-up: JIT, caches, pools
    gc();
    const base = process.memoryUsage().heapUsed;
    await flood(100_000);
    gc();
    const after = process.memoryUsage().heapUsed;
    const growth = after - base;
    console.log(
      `100k bad frames: heapUsed ${(base / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB (${(growth / 1024).toFixed(0)} KiB)`,
    );
    expect(closed).toBeNull();
    expect(received).toBe(sent);
    expect(internal).toBe(0);
    expect(await fingerprint(store.db)).toBe(before);
    // A leak of even 50 bytes per frame would be 5 MB here.
    expect(growth).toBeLessThan(4 * 2 ** 20);
    ws.close();
  }, 120_000); // ~10 s on a quiet machine; the bound is for a loaded one
});
