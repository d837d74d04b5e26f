// The room's `event` frame has two builders (src/store/pg/message-log.ts says why): the send
// function writes a new message's (herald_send_one, herald_send_reply), MessageLog.appendEvent
// every other event's (edits, deletes, kind actions). Both must write the protocol's frame
// (ServerFrame 'event': type, conversation, seq, event) carrying the event the log stored, and
// a message in one shape whichever event carries it.
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { ConversationEventSchema, sharedSchemas } from '../../src/api/responses.ts';
import { deleteMessage, editMessage } from '../../src/domain/edits.ts';
import { runAction } from '../../src/domain/kind-actions.ts';
import { storeFrameSchemas } from '../../src/protocol/frame-schemas.ts';
import type { ServerFrame } from '../../src/protocol/index.ts';
import { type Backend, backends } from '../support/stores.ts';
import { eventsOf, groupOf, outboxHead, outboxOf, roomTopic, useStore } from './support.ts';

type EventFrame = Extract<ServerFrame, { type: 'event' }>;

/** The shared schemas by $id, for the event schema's references (Message, Sender, Attachment). */
const context = Object.fromEntries(sharedSchemas.map((s) => [(s as { $id: string }).$id, s]));

describe.each(backends())('event frames (%s)', (backend: Backend) => {
  const s = useStore(backend);

  it('a send, a reply, an edit, a reaction and deletes write frames of one shape, with the logged event', async () => {
    const { deps, tenant, id, send } = await groupOf(s.db, ['alice', 'bob']);
    const head = await outboxHead(s.db);

    const root = await send('alice', { body: 'root', mentions: ['bob'] });
    const reply = await send('bob', { body: 'reply', thread_root: root.id });
    await editMessage(deps, tenant, 'alice', id, root.id, 'root, edited');
    await runAction(deps, {
      tenant,
      user: 'bob',
      conversation: id,
      messageId: root.id,
      kind: 'reactions',
      action: 'react',
      args: { emoji: '👍' },
    });
    const roomFrames = async () =>
      (await outboxOf(s.db, tenant, head))
        .filter((r) => r.topic === roomTopic(tenant, id))
        .map((r) => r.payload as EventFrame);
    // A message has one shape, whichever builder wrote the event that carries it.
    const [created, , edited] = (await roomFrames()).map((f) => f.event as { message?: object });
    expect(Object.keys(edited.message ?? {}).sort()).toEqual(
      // The edit came after the root's first reply: the root counts it.
      [...Object.keys(created.message ?? {}), 'reply_count', 'last_reply_at'].sort(),
    );

    await deleteMessage(deps, tenant, 'bob', id, reply.id);
    await deleteMessage(deps, tenant, 'alice', id, root.id);
    const frames = await roomFrames();
    const logged = new Map((await eventsOf(s.db, tenant, id)).map((e) => [Number(e.seq), e]));
    expect(frames.map((f) => f.event.type)).toEqual([
      'message.created',
      'message.created',
      'message.edited',
      'reaction.added',
      'message.deleted',
      'message.deleted',
    ]);
    for (const f of frames) {
      expect(Object.keys(f).sort()).toEqual(['conversation', 'event', 'seq', 'type']);
      expect(f).toMatchObject({ type: 'event', conversation: id });
      expect(Number.isInteger(f.seq)).toBe(true);
      // The frame carries the event the log keeps at that seq (catch-up replays the same value).
      // The deletes erased the earlier copies of both messages: the log's and the frames' alike.
      expect(logged.get(f.seq)?.type).toBe(f.event.type);
      expect(f.event).toEqual(logged.get(f.seq)?.payload);
      // The frame as the protocol's frame schema has it (closed objects, the event by reference).
      expect(Value.Errors(context, storeFrameSchemas.event, f)).toEqual([]);
    }
    // The schema check sees into the message (its references resolve): a wrong field fails it.
    const bad = { ...frames[2], event: { ...frames[2].event, message: { ...edited.message, seq: 'one' } } };
    expect(Value.Check(context, storeFrameSchemas.event, bad)).toBe(false);
    expect(Value.Check(context, ConversationEventSchema, bad.event)).toBe(false);
  });
});
