// Every wire shape the store builds, checked against the protocol's schemas. A real store (PGlite
// and PostgreSQL) is driven through the public domain and use-case calls until it has produced
// each frame — the `event` of every event type, `inbox` entries (the removed tombstone too),
// `receipt`, `notice`, `thread` — and the read ports' results: history with reactions, a poll and
// thread summaries, the event log, the inbox and notice pages, thread entries, receipts, the
// subscribe read. Each is read where it lands (outbox payloads by topic, the events table, what
// the ports return) and validated against the TypeBox schemas (src/api/responses.ts,
// src/protocol/frame-schemas.ts). The objects are closed: a builder that emits a field the type
// lacks, or misses a required one, fails here. A shape no step produces any more fails too.
import type { Static, TSchema } from 'typebox';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replies, sharedSchemas } from '../../src/api/responses.ts';
import { expandEvent } from '../../src/client/wire.ts';
import { execute } from '../../src/domain/commands.ts';
import { addMembers, createConversation, removeMember } from '../../src/domain/conversations.ts';
import type { ViewingRegistry } from '../../src/domain/ports.ts';
import { updateNoticeEntry } from '../../src/domain/recipient-state.ts';
import { leanEvent } from '../../src/gateway/lean-event.ts';
import { replayOf } from '../../src/gateway/queries.ts';
import { storeFrameSchemas, ThreadEntrySchema } from '../../src/protocol/frame-schemas.ts';
import type { ServerFrame, WireEvent, WireMessage } from '../../src/protocol/frames.ts';
import { type WireKindShape, wireKinds } from '../../src/protocol/kinds/index.ts';
import type { Message, ThreadEntry } from '../../src/protocol/model.ts';
import { topics } from '../../src/protocol/topics.ts';
import { type Caller, messaging } from '../../src/usecases/messaging.ts';
import { threads } from '../../src/usecases/threads.ts';
import { depsOf, outboxOf } from '../domain/support.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';

// ---- the schemas, tied to the protocol's types ---------------------------------------------

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type FrameOf<T extends string> = Extract<ServerFrame, { type: T }>;
type FrameSchemas = typeof storeFrameSchemas;
/** WireMessage's required fields: the rest of Message is optional on a lean `event` frame. */
const LEAN_REQUIRED = ['id', 'kind', 'sender', 'body', 'created_at'] as const;
// Compile-time: the new schemas say what the types say (`npx tsc` fails otherwise).
type Holds<T extends true[]> = T;
// biome-ignore lint/correctness/noUnusedVariables: a type-level check; tsc evaluates it, nothing uses it.
type SchemasMatchTypes = Holds<
  [
    Same<Static<typeof ThreadEntrySchema>, ThreadEntry>,
    Same<keyof FrameSchemas, 'event' | 'inbox' | 'thread' | 'notice' | 'receipt'>,
    Same<Static<FrameSchemas['receipt']>, FrameOf<'receipt'>>,
    Same<keyof Static<FrameSchemas['event']>, keyof FrameOf<'event'>>,
    Same<keyof Static<FrameSchemas['inbox']>, keyof FrameOf<'inbox'>>,
    Same<keyof Static<FrameSchemas['thread']>, keyof FrameOf<'thread'>>,
    Same<keyof Static<FrameSchemas['notice']>, keyof FrameOf<'notice'>>,
    Same<(typeof LEAN_REQUIRED)[number], RequiredKeys<WireMessage>>,
  ]
>;

/** The components by name, as refs name them; and the same with `Message` read lean. */
const byId = (list: TSchema[]) =>
  Object.fromEntries(list.map((s) => [(s as { $id?: string }).$id as string, s]));
const context = byId([...sharedSchemas, ThreadEntrySchema]);
const MessageSchema = context.Message as ReturnType<typeof Type.Object>;
const leanContext = {
  ...context,
  Message: Type.Object(
    Object.fromEntries(
      Object.entries(MessageSchema.properties).map(([k, s]) => [
        k,
        (LEAN_REQUIRED as readonly string[]).includes(k) ? s : Type.Optional(s as TSchema),
      ]),
    ),
    { additionalProperties: false },
  ),
};

/** The one spelling of a timestamp on the wire (herald_ts, Date#toISOString): UTC, ms, `Z`. */
const WIRE_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Every `*_at` string in `value` not spelt as WIRE_TS, by path. */
function badTimestamps(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => badTimestamps(v, `${path}/${i}`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.endsWith('_at') && typeof v === 'string' && !WIRE_TS.test(v)
      ? [`${path}/${k}: timestamp ${v}`]
      : badTimestamps(v, `${path}/${k}`),
  );
}

/** What is wrong with `value` under `schema` ("" when nothing). */
function problems(schema: TSchema, value: unknown, ctx: Record<string, TSchema> = context): string {
  const errors = Value.Errors(ctx as never, schema as never, value);
  return [...errors.slice(0, 5).map((e) => `${e.instancePath || '/'}: ${e.message}`), ...badTimestamps(value)]
    .slice(0, 8)
    .join('; ');
}

/** Collects every problem with the shape it was found in, so one run reports them all. */
class Checker {
  readonly found: string[] = [];
  readonly seen = new Set<string>();

  check(where: string, schema: TSchema, value: unknown, ctx?: Record<string, TSchema>): void {
    const p = problems(schema, value, ctx);
    if (p) this.found.push(`${where}: ${p} in ${JSON.stringify(value)}`);
  }

  saw(label: string): void {
    this.seen.add(label);
  }
}

// ---- the scenario ---------------------------------------------------------------------------

/** Users viewing a conversation, set by the scenario (a send writes their receipt). */
function viewingOf(views: Map<string, Set<string>>): ViewingRegistry {
  return {
    async set() {},
    async viewers(_tenant, conversation, candidates) {
      const v = views.get(conversation) ?? new Set<string>();
      return new Set([...v].filter((u) => !candidates || candidates.includes(u)));
    },
  };
}

/** What a frame is, for coverage: its type and the variant that matters. */
function labelOf(f: Record<string, unknown>): string {
  switch (f.type) {
    case 'event': {
      const e = f.event as { type: string; message?: Message; thread?: unknown };
      if (e.type === 'message.created' && e.message?.kind === 'system')
        return `event system.${String(e.message.data?.event)}`;
      if (e.type === 'message.created' && e.thread) return 'event message.created (thread reply)';
      return `event ${e.type}`;
    }
    case 'inbox':
      return (f.entry as { removed?: boolean }).removed ? 'inbox (removed)' : 'inbox';
    case 'receipt':
      return f.delivered_seq === undefined ? 'receipt' : 'receipt (delivered_seq)';
    default:
      return String(f.type);
  }
}

const EXPECTED_FRAMES = [
  'event message.created',
  'event message.created (thread reply)',
  'event message.edited',
  'event message.deleted',
  'event reaction.added',
  'event reaction.removed',
  'event poll.voted',
  'event poll.closed',
  'event system.created',
  'event system.joined',
  'event system.left',
  'inbox',
  'inbox (removed)',
  'thread',
  'notice',
  'receipt',
  'receipt (delivered_seq)',
];

describe.each(backends())('wire shapes built by the store (%s)', (backend: Backend) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(backend);
  });
  afterAll(async () => store?.close());

  it('every frame and read-port shape matches its schema', async () => {
    const views = new Map<string, Set<string>>();
    // A low threshold makes the channel below large: derived unread, then a recount on a leave.
    const deps = depsOf(store.db, { limits: { largeChannelThreshold: 3 }, viewing: viewingOf(views) });
    const tenant = await seedTenant(store.db, ['alice', 'bob', 'carol', 'dave', 'erin']);
    const m = messaging(deps, { async take() {} });
    const t = threads(deps);
    const as = (user: string): Caller => ({ tenant, user });
    const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map(as);
    const c = new Checker();

    // A group: created (system event), a message with everything a message may carry while bob
    // views it (his receipt is written by the send), a reply.
    const { id: g } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      { kind: 'group', title: 'g', members: ['bob', 'carol'] },
    );
    views.set(g, new Set(['bob']));
    const first = await m.send(alice, g, {
      body: 'hello @carol',
      mentions: ['carol'],
      attachments: [{ name: 'a.png', mime_type: 'image/png', size: 3, url: 'https://example.test/a.png' }],
      client_id: 'k1',
    });
    views.delete(g);
    const answer = await m.send(bob, g, { body: 'hi', reply_to: first.message.id });
    // A thread on the first message: two replies (the thread frames of its participants).
    const r1 = await m.send(carol, g, {
      body: 'in the thread',
      thread_root: first.message.id,
      mentions: ['bob'],
    });
    const r2 = await m.send(alice, g, { body: 'me too', thread_root: first.message.id });
    // A poll, voted and closed; reactions added and one taken back.
    const poll = await m.send(alice, g, {
      body: 'lunch?',
      poll: { question: 'Where?', options: ['a', 'b'] },
    });
    const acted: { kind: string; reply: Record<string, unknown> }[] = [];
    const act = async (who: Caller, messageId: string, kind: string, action: string, args: object) => {
      const reply = await m.act(who, { conversation: g, messageId, kind, action, args: { ...args } });
      acted.push({ kind, reply });
    };
    await act(bob, poll.message.id, 'poll', 'vote', { option: 1 });
    await act(alice, poll.message.id, 'poll', 'close', {});
    await act(carol, first.message.id, 'reactions', 'react', { emoji: '👍' });
    await act(bob, first.message.id, 'reactions', 'react', { emoji: '🎉' });
    await act(carol, first.message.id, 'reactions', 'react', { emoji: '👍', remove: true });
    // A repeated client_id: the original, as the store returns a replay.
    const again = await m.send(alice, g, {
      body: 'hello @carol',
      mentions: ['carol'],
      attachments: [{ name: 'a.png', mime_type: 'image/png', size: 3, url: 'https://example.test/a.png' }],
      client_id: 'k1',
    });
    expect(again.replayed).toBe(true);
    // Edits and deletes: of the latest message (the inboxes' preview moves) and of others.
    const last = await m.send(alice, g, { body: 'the latest' });
    const edited = await m.edit(alice, g, last.message.id, 'the latest, edited');
    await m.edit(bob, g, answer.message.id, 'hi, edited');
    await m.remove(carol, g, r1.message.id); // a thread reply: its participants' thread entries
    const removed = await m.remove(alice, g, last.message.id);
    await m.send(bob, g, { body: 'after the delete' });
    // Markers and flags: a read (the receipt and entry written by TypeScript), a delivery ack
    // (SQL), flags, a thread read by a participant (a `thread` frame) and by a non-member-yet.
    const head = (await m.events(alice, g, 0, 200)).head_seq;
    await m.read(carol, g, head);
    await m.delivered(bob, g, head - 1);
    await m.setInboxFlags(bob, g, { pinned: true, muted: true });
    const bobThread = await t.read(bob, g, first.message.id, r2.message.seq);
    await addMembers(deps, tenant, { type: 'user', user_id: 'alice' }, g, ['dave']);
    const daveThread = await t.read(dave, g, first.message.id, r2.message.seq);
    // A direct conversation, a tenant-wide announcement.
    await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'psst' },
    });
    const { id: ann } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      { kind: 'announcement', title: 'news', members: [], audience: 'tenant' },
    );
    await m.send(alice, ann, { body: 'to everyone' });
    // A large channel (4 members > 3): a send, then dave leaves (his tombstone, the recount).
    const { id: ch } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      { kind: 'channel', title: 'ch', members: ['bob', 'carol', 'dave'] },
    );
    await m.send(carol, ch, { body: 'in the channel' });
    await removeMember(deps, tenant, { type: 'user', user_id: 'dave' }, ch, 'dave');
    // Notices: sent (SQL), then flagged by bob (SQL).
    const notice = await execute(deps, tenant, {
      kind: 'SystemNotice',
      to: ['bob', 'carol'],
      title: 'Heads up',
      body: 'Maintenance at noon',
      data: { window: '12:00' },
    });
    const flagged = await updateNoticeEntry(deps.projection(store.db), tenant, 'bob', notice.notice_id, {
      read: true,
    });

    // ---- the frames, where they landed -------------------------------------------------------
    const rows = await outboxOf(store.db, tenant);
    const frameSchemas = storeFrameSchemas as Record<string, TSchema>;
    for (const row of rows) {
      const f = row.payload as Record<string, unknown>;
      const where = `outbox ${row.id} ${String(f.type)}`;
      const schema = frameSchemas[String(f.type)];
      if (!schema) {
        c.found.push(`${where}: a frame type without a schema (src/protocol/frame-schemas.ts)`);
        continue;
      }
      c.check(where, schema, f);
      c.saw(labelOf(f));
      // Room frames go to the room, recipient state to its user.
      if (f.type === 'event' || f.type === 'receipt')
        expect(row.topic, where).toBe(topics.conversation(tenant, String(f.conversation)));
      else expect(row.topic, where).toMatch(new RegExp(`^t:${tenant}:u:`));
      if (f.type === 'event') {
        // As the gateway sends it (lean), and as the SDK restores it: nothing lost.
        const conversation = String(f.conversation);
        const seq = Number(f.seq);
        const lean = leanEvent(f.event as Record<string, unknown>, conversation, seq);
        c.check(`${where} (lean)`, storeFrameSchemas.event, { ...f, event: lean }, leanContext);
        expect(expandEvent(lean as WireEvent, tenant, conversation, seq), where).toEqual(f.event);
      }
    }
    expect([...c.seen].sort()).toEqual([...EXPECTED_FRAMES].sort());

    // ---- the event log, as stored and as the subscribe read and the events page return it ----
    const { rows: stored } = await store.db.query<{ seq: number; payload: unknown }>(
      'SELECT seq, payload FROM events WHERE tenant_id = $1 ORDER BY conversation_id, seq',
      [tenant],
    );
    for (const e of stored) c.check(`events ${e.seq}`, context.ConversationEvent, e.payload);
    const live = deps.reads(store.db).live;
    const sub = await live.subscribe(tenant, g, 'alice', 0, 200);
    expect(sub?.events.length).toBe(sub?.row.last_seq);
    for (const f of replayOf(g, sub?.row.last_seq ?? 0, sub?.events ?? []).events)
      c.check(`replayed ${f.seq}`, storeFrameSchemas.event, JSON.parse(f.frame));
    c.check('events page', Replies.EventPage, await m.events(alice, g, 0, 200));

    // ---- what the use cases and read ports return --------------------------------------------
    for (const [what, msg] of Object.entries({ first, answer, r1, r2, poll, last, again }))
      c.check(`sent ${what}`, MessageSchema, msg.message);
    c.check('edited', MessageSchema, edited);
    c.check('deleted', MessageSchema, removed);
    const history = await m.history(bob, g, { limit: 200 });
    c.check('history', Replies.MessagePage, history);
    const inHistory = new Map(history.messages.map((x) => [x.id, x]));
    // The summaries the page must carry, so the check above saw them.
    expect(inHistory.get(first.message.id)).toMatchObject({
      reply_count: 1, // two replies, one deleted (r1): a deleted reply does not count
      reactions: [{ emoji: '🎉', count: 1 }],
    });
    expect(inHistory.get(poll.message.id)?.poll).toMatchObject({ closed: true, mine: 1, voters: 1 });
    expect(inHistory.get(answer.message.id)?.reply_to).toBe(first.message.id);
    expect(inHistory.get(last.message.id)?.deleted_at).not.toBeNull();
    const thread = await t.history(alice, g, first.message.id, { limit: 50 });
    c.check('thread root', MessageSchema, thread.root);
    for (const x of thread.messages) c.check(`thread reply ${x.seq}`, MessageSchema, x);
    expect(thread.messages.map((x) => x.thread_root)).toEqual([first.message.id, first.message.id]);
    for (const e of await t.entries(bob, g, 50)) c.check('thread entry', ThreadEntrySchema, e);
    c.check('thread read', ThreadEntrySchema, bobThread);
    c.check('thread read (not a participant)', ThreadEntrySchema, daveThread);
    for (const who of [alice, bob, carol, dave]) {
      const list = await m.inbox(who, undefined, 200);
      c.check(`inbox list ${who.user}`, Replies.InboxPage, {
        entries: list.items,
        next_since: list.next_since,
        has_more: list.has_more,
      });
      const sync = await m.inbox(who, 0, 200);
      c.check(`inbox sync ${who.user}`, Replies.InboxPage, {
        entries: sync.items,
        next_since: sync.next_since,
        has_more: sync.has_more,
      });
      if (who === dave)
        expect(sync.items.some((e) => e.removed === true && e.conversation_id === ch)).toBe(true);
    }
    const reads = deps.reads(store.db);
    for (const since of [undefined, 0]) {
      const page = await reads.recipients.notices(tenant, 'bob', since, 50);
      c.check(`notices since ${since}`, Replies.NoticePage, {
        notices: page.items,
        next_since: page.next_since,
        has_more: page.has_more,
      });
    }
    c.check('notice flagged', context.Notice, flagged);
    // A kind action's reply: the message's summary as the caller sees it (the kinds' schemas).
    for (const { kind, reply } of acted) {
      const wire = (wireKinds as readonly WireKindShape[]).find((w) => w.name === kind);
      const field = wire?.summary.field ?? kind;
      expect(Object.keys(reply).sort()).toEqual(['changed', field, 'message_id', 'seq'].sort());
      if (wire) c.check(`${kind} action reply`, wire.summary.schema, reply[field]);
    }
    c.check('receipts', Replies.Receipts, await m.receipts(alice, g, head));
    const seen = await reads.conversations.seenBy(tenant, 'alice', g);
    c.check('conversation', context.Conversation, seen?.conversation);
    c.check('members', Replies.MemberPage, await reads.conversations.members(tenant, g, undefined, 50));

    expect(c.found).toEqual([]);
  });
});
