// The storage port's contract, run against both adapters: memory, and
// IndexedDB through fake-indexeddb (a complete IndexedDB in Node). What one
// client writes, a "reloaded" one (a new adapter over the same database)
// reads back; a batch lands whole or not at all.
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import {
  type HeraldStorage,
  indexedDbStorage,
  memoryStorage,
  type StoredConversation,
  type StoredSend,
  storageNameFor,
} from '../../src/client/index.ts';
import type { Message } from '../../src/protocol/model.ts';

function message(conversation: string, seq: number): Message {
  return {
    id: `m-${conversation}-${seq}`,
    tenant_id: 't',
    conversation_id: conversation,
    seq,
    kind: 'group',
    sender: { type: 'user', user_id: 'alice' },
    body: `message ${seq}`,
    reply_to: null,
    mentions: [],
    attachments: [],
    created_at: new Date(1_700_000_000_000 + seq).toISOString(),
    edited_at: null,
    deleted_at: null,
    client_id: null,
  } as unknown as Message;
}

const send = (client_id: string, order: number): StoredSend => ({
  client_id,
  conversation: 'c1',
  body: `body ${client_id}`,
  options: { mentions: ['bob'] },
  order,
});

const conv = (id: string, last: number): StoredConversation => ({
  conversation: id,
  last_seq: last,
  messages: [message(id, last - 1), message(id, last)],
});

/** Each adapter, and how to "reload" it: a new adapter over the same underlying data. */
const adapters: [string, () => { first: HeraldStorage; reopen: () => HeraldStorage }][] = [
  [
    'memory',
    () => {
      const s = memoryStorage();
      return { first: s, reopen: () => s };
    },
  ],
  [
    'indexeddb',
    () => {
      const factory = new IDBFactory();
      const name = `herald-test-${Math.random()}`;
      return {
        first: indexedDbStorage({ indexedDB: factory, name }),
        reopen: () => indexedDbStorage({ indexedDB: factory, name }),
      };
    },
  ],
];

describe.each(adapters)('HeraldStorage contract (%s)', (_name, make) => {
  it('starts empty', async () => {
    const { first } = make();
    expect(await first.load()).toEqual({ identity: null, pending: [], conversations: [], reads: [] });
  });

  it('keeps sends (in their order), conversations, reads and the identity across a reopen', async () => {
    const { first, reopen } = make();
    await first.write([
      { op: 'putIdentity', identity: { url: 'http://h', tenant_id: 't', user_id: 'alice' } },
      { op: 'putSend', send: send('b', 2) },
      { op: 'putSend', send: send('a', 1) },
      { op: 'putSend', send: send('c', 3) },
      { op: 'putConversation', conversation: conv('c1', 5) },
      { op: 'putConversation', conversation: conv('c2', 9) },
      { op: 'putRead', read: { conversation: 'c1', seq: 4 } },
    ]);
    await first.write([
      { op: 'deleteSend', client_id: 'c' },
      { op: 'putConversation', conversation: conv('c1', 6) },
      { op: 'deleteConversation', conversation: 'c2' },
    ]);
    first.close?.();
    const state = await reopen().load();
    expect(state.identity).toEqual({ url: 'http://h', tenant_id: 't', user_id: 'alice' });
    expect(state.pending).toEqual([send('a', 1), send('b', 2)]);
    expect(state.conversations).toEqual([conv('c1', 6)]);
    expect(state.reads).toEqual([{ conversation: 'c1', seq: 4 }]);
  });

  it('applies a batch all-or-nothing: one value it cannot store leaves the previous state', async () => {
    const { first } = make();
    await first.write([{ op: 'putSend', send: send('a', 1) }]);
    const bad = { ...send('b', 2), options: { mentions: [() => 'not cloneable'] } } as unknown as StoredSend;
    await expect(
      first.write([
        { op: 'deleteSend', client_id: 'a' },
        { op: 'putSend', send: bad },
      ]),
    ).rejects.toBeTruthy();
    expect((await first.load()).pending).toEqual([send('a', 1)]);
  });

  it('hands out copies: changing what was written or loaded does not change the store', async () => {
    const { first } = make();
    const c = conv('c1', 3);
    await first.write([{ op: 'putConversation', conversation: c }]);
    c.messages.length = 0;
    const loaded = await first.load();
    loaded.conversations[0].messages.length = 0;
    expect((await first.load()).conversations[0].messages).toHaveLength(2);
  });

  it('clear() forgets everything', async () => {
    const { first, reopen } = make();
    await first.write([
      { op: 'putIdentity', identity: { url: 'http://h', tenant_id: 't', user_id: 'alice' } },
      { op: 'putSend', send: send('a', 1) },
      { op: 'putConversation', conversation: conv('c1', 2) },
      { op: 'putRead', read: { conversation: 'c1', seq: 2 } },
    ]);
    await first.clear();
    expect(await reopen().load()).toEqual({ identity: null, pending: [], conversations: [], reads: [] });
  });
});

describe('the default database name', () => {
  const jwt = (claims: object) =>
    `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
  it("is the token's user's own, so two users in one browser never share one", () => {
    expect(storageNameFor(jwt({ sub: 'alice', tid: 'acme', exp: 1 }))).toBe('herald:acme:alice');
    expect(storageNameFor(jwt({ sub: 'bob', tenant_id: 'acme' }))).toBe('herald:acme:bob');
    expect(storageNameFor(jwt({ sub: 'carol' }))).toBe('herald::carol');
    expect(storageNameFor('opaque-token')).toBe('herald');
    expect(storageNameFor('a.!!!.c')).toBe('herald');
    expect(storageNameFor(undefined)).toBe('herald');
  });
});

describe('indexedDbStorage', () => {
  it('fails with a readable error where there is no IndexedDB, and tries again on the next call', async () => {
    const s = indexedDbStorage({ name: 'x', indexedDB: undefined });
    const saved = (globalThis as { indexedDB?: unknown }).indexedDB;
    expect(saved).toBeUndefined(); // Node has none: the default storage there is memory
    await expect(s.load()).rejects.toThrow(/IndexedDB is not available/);
  });

  it('keeps databases of different names apart', async () => {
    const factory = new IDBFactory();
    const a = indexedDbStorage({ indexedDB: factory, name: 'herald:alice' });
    const b = indexedDbStorage({ indexedDB: factory, name: 'herald:bob' });
    await a.write([{ op: 'putSend', send: send('a', 1) }]);
    expect((await b.load()).pending).toEqual([]);
    expect((await a.load()).pending).toEqual([send('a', 1)]);
  });
});
