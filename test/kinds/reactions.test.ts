// Reactions: one per (user, message, emoji), each add and remove a seq'd event in the
// conversation log (live to subscribers, replayed by since_seq), counts with "me" in history,
// repeats that change nothing; over HTTP, WebSocket and the SDK, on both stores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HeraldHttp } from '../../src/client/http.ts';
import { HeraldClient } from '../../src/client/index.ts';
import { kindActions } from '../../src/client/kind-actions.ts';
import { isEmoji } from '../../src/domain/kinds/reactions.ts';
import { applyKindEvent, type KindEvent } from '../../src/protocol/kinds/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { events, group, history, onMessage, send, watch } from './support.ts';

type Reply = { message_id: string; seq: number | null; changed: boolean; reactions: unknown[] };

describe('emoji check', () => {
  it('takes one emoji grapheme (flags, keycaps, ZWJ sequences, skin tones) and nothing else', () => {
    for (const e of ['👍', '👍🏽', '👨‍👩‍👧', '🇫🇷', '1️⃣', '❤️']) expect(isEmoji(e), e).toBe(true);
    for (const e of ['a', '1', '#', '👍👍', ':+1:', ' 👍', '']) expect(isEmoji(e), e).toBe(false);
  });
});

describe.each(backends())('reactions (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true });
  }, 60_000);
  afterAll(async () => t?.close());

  it('adds once per emoji, removes, counts with "me" in history; each change is one event', async () => {
    const g = await group(t);
    const m = (await send(t, g.alice, g.id, { body: 'lunch?' })).body.message;
    const react = (who = g.bob, emoji = '👍') =>
      onMessage<Reply>(t, who, 'POST', g.id, m.id, 'reactions', { emoji });
    const unreact = (who = g.bob, emoji = '👍') =>
      onMessage<Reply>(t, who, 'DELETE', g.id, m.id, `reactions/${encodeURIComponent(emoji)}`);

    const first = await react();
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      message_id: m.id,
      seq: m.seq + 1,
      changed: true,
      reactions: [{ emoji: '👍', count: 1, me: true }],
    });
    // Adding twice is one reaction: no second event, the same counts.
    expect((await react()).body).toEqual({ ...first.body, seq: null, changed: false });
    await react(g.alice);
    await react(g.alice, '🎉');
    const asAlice = (await history(t, g.alice, g.id)).find((x) => x.id === m.id);
    expect(asAlice?.reactions).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: true },
    ]);
    const asBob = (await history(t, g.bob, g.id)).find((x) => x.id === m.id);
    expect(asBob?.reactions).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: false },
    ]);

    expect((await unreact()).body).toMatchObject({
      changed: true,
      reactions: [
        { emoji: '👍', count: 1, me: false },
        { emoji: '🎉', count: 1 },
      ],
    });
    expect((await unreact()).body).toMatchObject({ changed: false, seq: null });

    const log = await events(t, g.alice, g.id, m.seq);
    expect(log.events.map((e) => [e.seq, e.event.type])).toEqual([
      [m.seq + 1, 'reaction.added'],
      [m.seq + 2, 'reaction.added'],
      [m.seq + 3, 'reaction.added'],
      [m.seq + 4, 'reaction.removed'],
    ]);
    expect(log.events[3].event).toEqual({
      type: 'reaction.removed',
      message_id: m.id,
      user_id: 'bob',
      input: { emoji: '👍', remove: true },
      reactions: [
        { emoji: '👍', count: 1 },
        { emoji: '🎉', count: 1 },
      ],
    });
    expect(log.head_seq).toBe(m.seq + 4);
    // Reactions move neither the preview nor anyone's unread count.
    const inbox = await t.call<{
      entries: { conversation_id: string; unread_count: number; last_message: { message_id: string } }[];
    }>({
      method: 'GET',
      url: '/v1/inbox',
      headers: t.bearer(g.bob),
    });
    const entry = inbox.body.entries.find((e) => e.conversation_id === g.id);
    expect(entry).toMatchObject({ unread_count: 1, last_message: { message_id: m.id } });
  });

  it('refuses bad emoji, unknown and deleted messages, non-members and stray fields with typed errors', async () => {
    const g = await group(t);
    const m = (await send(t, g.alice, g.id, { body: 'x' })).body.message;
    const call = (who: typeof g.alice, id: string, payload: object) =>
      onMessage(t, who, 'POST', g.id, id, 'reactions', payload);
    expect(await call(g.bob, m.id, { emoji: 'ok' })).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_EMOJI' } },
    });
    expect(await call(g.bob, m.id, { emoji: '👍', extra: 1 })).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED' } },
    });
    expect(await call(g.bob, m.id, {})).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED' } },
    });
    expect(await call(g.bob, 'no-such', { emoji: '👍' })).toMatchObject({
      status: 404,
      body: { error: { code: 'MESSAGE_NOT_FOUND' } },
    });
    expect(await call(g.carol, m.id, { emoji: '👍' })).toMatchObject({
      status: 403,
      body: { error: { code: 'NOT_A_MEMBER' } },
    });
    const bad = await onMessage(t, g.bob, 'DELETE', g.id, m.id, 'reactions/x');
    expect(bad.body).toMatchObject({ error: { code: 'INVALID_EMOJI' } });
    await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${g.id}/messages/${m.id}`,
      headers: t.bearer(g.alice),
    });
    expect(await call(g.bob, m.id, { emoji: '👍' })).toMatchObject({
      status: 409,
      body: { error: { code: 'MESSAGE_DELETED' } },
    });
    // Nothing refused took a seq.
    expect((await events(t, g.alice, g.id, m.seq)).events.map((e) => e.event.type)).toEqual([
      'message.deleted',
    ]);
  });

  it('over WebSocket: a react frame reaches subscribers as the event; since_seq replays it; refusals are error frames', async () => {
    const g = await group(t);
    const m = (await send(t, g.alice, g.id, { body: 'hi' })).body.message;
    const aliceWs = await watch(t, g.alice, g.id);
    const bobWs = await watch(t, g.bob, g.id);
    bobWs.send({ type: 'react', conversation: g.id, message_id: m.id, emoji: '🔥' });
    const live = await aliceWs.next('event', (f) => f.event.type === 'reaction.added');
    expect(live).toMatchObject({
      conversation: g.id,
      seq: m.seq + 1,
      event: {
        message_id: m.id,
        user_id: 'bob',
        input: { emoji: '🔥' },
        reactions: [{ emoji: '🔥', count: 1 }],
      },
    });
    bobWs.send({ type: 'react', conversation: g.id, message_id: m.id, emoji: '🔥', remove: true });
    await aliceWs.next('event', (f) => f.event.type === 'reaction.removed');
    bobWs.send({ type: 'react', conversation: g.id, message_id: m.id, emoji: 'nope' });
    expect(await bobWs.next('error')).toMatchObject({ code: 'INVALID_EMOJI', ref: g.id });
    bobWs.send({ type: 'react', conversation: g.id, message_id: m.id });
    expect(await bobWs.next('error', (f) => f.code === 'VALIDATION_FAILED')).toMatchObject({ ref: g.id });
    // A late subscriber catches up from its seq.
    const late = await watch(t, g.alice, g.id, m.seq);
    await late.next('event', (f) => f.seq === m.seq + 2);
    expect(late.of('event').map((f) => f.event.type)).toEqual(['reaction.added', 'reaction.removed']);
    for (const c of [aliceWs, bobWs, late]) c.close();
  });

  it('in the SDK client: the timeline folds reaction events with your "me" and keeps them over an edit', async () => {
    const g = await group(t);
    const m = (await send(t, g.alice, g.id, { body: 'timeline' })).body.message;
    const client = new HeraldClient({ url: t.url as string, token: g.bob.access_token, WebSocket });
    try {
      client.connect();
      await client.ready();
      const sub = client.open(g.id, { sinceSeq: 0 });
      const seen = (pred: () => boolean) =>
        new Promise<void>((resolve) => {
          if (pred()) return resolve();
          const off = sub.on('event', () => {
            if (pred()) {
              off();
              resolve();
            }
          });
        });
      const reactionsOf = () => sub.messages().find((x) => x.id === m.id)?.reactions;
      await seen(() => sub.messages().some((x) => x.id === m.id));
      await client.kinds.reactions.react(g.id, m.id, { emoji: '👍' });
      await onMessage(t, g.alice, 'POST', g.id, m.id, 'reactions', { emoji: '🎉' });
      await seen(() => reactionsOf()?.length === 2);
      expect(reactionsOf()).toEqual([
        { emoji: '👍', count: 1, me: true },
        { emoji: '🎉', count: 1 },
      ]);
      await t.call({
        method: 'PATCH',
        url: `/v1/conversations/${g.id}/messages/${m.id}`,
        headers: t.bearer(g.alice),
        payload: { body: 'timeline, edited' },
      });
      await seen(() => sub.messages().some((x) => x.body === 'timeline, edited'));
      expect(reactionsOf()).toHaveLength(2);
    } finally {
      client.disconnect();
    }
  });

  it('in the SDK: kinds.reactions.react picks the route; a live event folds into the message', async () => {
    const g = await group(t);
    const m = (await send(t, g.alice, g.id, { body: 'sdk' })).body.message;
    const http = new HeraldHttp({ baseUrl: t.url as string, token: () => g.bob.access_token });
    const kinds = kindActions(http);
    const added = await kinds.reactions.react(g.id, m.id, { emoji: '👀' });
    expect(added).toMatchObject({ changed: true, reactions: [{ emoji: '👀', count: 1, me: true }] });
    const removed = await kinds.reactions.react(g.id, m.id, { emoji: '👀', remove: true });
    expect(removed).toMatchObject({ changed: true, reactions: [] });
    await expect(kinds.reactions.react(g.id, m.id, { emoji: 'x' })).rejects.toMatchObject({
      code: 'INVALID_EMOJI',
    });
    // The SDK's fold keeps the viewer's own part: bob's add shows as "me" to bob only.
    const log = await events(t, g.alice, g.id, m.seq);
    const ev = log.events[0].event as KindEvent;
    expect(applyKindEvent(m, ev, 'bob').reactions).toEqual([{ emoji: '👀', count: 1, me: true }]);
    expect(applyKindEvent(m, ev, 'alice').reactions).toEqual([{ emoji: '👀', count: 1 }]);
  });
});
