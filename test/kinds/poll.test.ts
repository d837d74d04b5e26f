// Polls: a poll message (HTTP and WebSocket sends), one vote per user changeable until the
// author closes it, each change a seq'd event with the tallies (live and replayed), tallies
// with the viewer's vote in history; refusals with typed errors; the SDK's calls; both stores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeraldHttp } from '../../src/client/http.ts';
import { kindActions } from '../../src/client/kind-actions.ts';
import { applyKindEvent, type KindEvent } from '../../src/protocol/kinds/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { events, group, history, onMessage, send, watch } from './support.ts';

const lunch = { question: 'Lunch?', options: ['Pizza', 'Sushi', 'Salad'] };

describe.each(backends())('polls (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true });
  }, 60_000);
  afterAll(async () => t?.close());

  it('a poll is a message carrying data.poll; its body defaults to the question; refusals are typed', async () => {
    const g = await group(t);
    const sent = await send(t, g.alice, g.id, { body: '', poll: lunch });
    expect(sent.status).toBe(201);
    expect(sent.body.message).toMatchObject({ kind: 'group', body: '📊 Lunch?', data: { poll: lunch } });
    const bad = async (payload: object) => (await send(t, g.alice, g.id, payload)).body.error?.code;
    expect(await bad({ body: '', poll: { question: 'Q', options: ['one'] } })).toBe('VALIDATION_FAILED');
    expect(await bad({ body: '', poll: { question: 'Q', options: ['a', 'A '] } })).toBe('VALIDATION_FAILED');
    expect(await bad({ body: '', poll: { question: '', options: ['a', 'b'] } })).toBe('VALIDATION_FAILED');
    expect(await bad({ body: '', poll: { ...lunch, extra: 1 } })).toBe('VALIDATION_FAILED');
    expect(await bad({ body: '' })).toBe('EMPTY_BODY');
    // The content is part of the idempotent request: the same key with another poll is refused.
    const key = { 'idempotency-key': 'poll-1' };
    const first = await t.call({
      method: 'POST',
      url: `/v1/conversations/${g.id}/messages`,
      headers: { ...t.bearer(g.alice), ...key },
      payload: { body: '', poll: lunch },
    });
    expect(first.status).toBe(201);
    const other = await t.call({
      method: 'POST',
      url: `/v1/conversations/${g.id}/messages`,
      headers: { ...t.bearer(g.alice), ...key },
      payload: { body: '', poll: { ...lunch, question: 'Dinner?' } },
    });
    expect(other.body).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
    // Announcements take no polls (content kind × conversation kind).
    const ann = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(g.alice),
      payload: { kind: 'announcement', title: 'news', members: ['bob'] },
    });
    const refused = await send(t, g.alice, ann.body.conversation.id, { body: '', poll: lunch });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'INVALID_KIND' } } });
  });

  it('one vote per user, changeable until the author closes; each change one event with the tallies', async () => {
    const g = await group(t);
    const m = (await send(t, g.alice, g.id, { body: 'Vote!', poll: lunch })).body.message;
    const vote = (who: typeof g.alice, option: number) =>
      onMessage(t, who, 'POST', g.id, m.id, 'votes', { option });
    const close = (who: typeof g.alice) => onMessage(t, who, 'POST', g.id, m.id, 'close');

    expect((await vote(g.bob, 0)).body).toEqual({
      message_id: m.id,
      seq: m.seq + 1,
      changed: true,
      poll: {
        question: 'Lunch?',
        options: [
          { text: 'Pizza', votes: 1 },
          { text: 'Sushi', votes: 0 },
          { text: 'Salad', votes: 0 },
        ],
        voters: 1,
        closed: false,
        mine: 0,
      },
    });
    expect((await vote(g.bob, 0)).body).toMatchObject({ changed: false, seq: null });
    expect((await vote(g.bob, 1)).body).toMatchObject({ changed: true, poll: { voters: 1, mine: 1 } });
    expect((await vote(g.alice, 1)).body).toMatchObject({
      poll: { options: [{ votes: 0 }, { votes: 2 }, { votes: 0 }] },
    });
    expect(await vote(g.bob, 3)).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED' } },
    });
    expect(await vote(g.carol, 0)).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_MEMBER' } } });
    expect(await close(g.bob)).toMatchObject({ status: 403, body: { error: { code: 'NOT_AUTHOR' } } });
    expect((await close(g.alice)).body).toMatchObject({
      changed: true,
      poll: { closed: true, voters: 2, mine: 1 },
    });
    expect((await close(g.alice)).body).toMatchObject({ changed: false });
    expect(await vote(g.bob, 2)).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    const text = (await send(t, g.alice, g.id, { body: 'plain' })).body.message;
    expect((await onMessage(t, g.bob, 'POST', g.id, text.id, 'votes', { option: 0 })).body).toMatchObject({
      error: { code: 'INVALID_KIND' },
    });

    const asBob = (await history(t, g.bob, g.id)).find((x) => x.id === m.id);
    expect(asBob?.poll).toMatchObject({ closed: true, voters: 2, mine: 1 });
    const plain = (await history(t, g.alice, g.id)).find((x) => x.id === text.id);
    expect(plain?.poll).toBeUndefined();
    const log = await events(t, g.alice, g.id, m.seq);
    expect(log.events.map((e) => [e.seq - m.seq, e.event.type])).toEqual([
      [1, 'poll.voted'],
      [2, 'poll.voted'],
      [3, 'poll.voted'],
      [4, 'poll.closed'],
      [5, 'message.created'],
    ]);
    expect(log.events[3].event).toMatchObject({ user_id: 'alice', poll: { closed: true, voters: 2 } });
    expect(log.events[3].event).not.toHaveProperty('poll.mine');
  });

  it('over WebSocket and the SDK: a poll sent as a frame, votes as frames reach subscribers; replayed by since_seq', async () => {
    const g = await group(t);
    const aliceWs = await watch(t, g.alice, g.id);
    const bobWs = await watch(t, g.bob, g.id);
    aliceWs.send({ type: 'send', conversation: g.id, client_id: 'p-1', body: '', poll: lunch });
    const ack = await aliceWs.next('ack', (f) => f.client_id === 'p-1');
    bobWs.send({ type: 'vote', conversation: g.id, message_id: ack.message_id, option: 2 });
    const live = await aliceWs.next('event', (f) => f.event.type === 'poll.voted');
    expect(live).toMatchObject({
      seq: ack.seq + 1,
      event: { user_id: 'bob', input: { option: 2 }, poll: { voters: 1 } },
    });
    bobWs.send({ type: 'vote', conversation: g.id, message_id: ack.message_id, option: 7 });
    expect(await bobWs.next('error')).toMatchObject({ code: 'VALIDATION_FAILED', ref: g.id });

    const sdk = kindActions(new HeraldHttp({ baseUrl: t.url as string, token: () => g.alice.access_token }));
    expect(await sdk.poll.vote(g.id, ack.message_id, { option: 2 })).toMatchObject({
      changed: true,
      poll: { mine: 2, voters: 2 },
    });
    expect(await sdk.poll.close(g.id, ack.message_id, {})).toMatchObject({ poll: { closed: true } });
    await expect(sdk.poll.vote(g.id, ack.message_id, { option: 0 })).rejects.toMatchObject({
      code: 'CONFLICT',
    });

    const late = await watch(t, g.bob, g.id, ack.seq);
    await late.next('event', (f) => f.event.type === 'poll.closed');
    expect(late.of('event').map((f) => f.event.type)).toEqual(['poll.voted', 'poll.voted', 'poll.closed']);
    // The SDK's fold keeps the viewer's vote across others' events.
    const [mine, theirs] = late.of('event').map((f) => f.event as KindEvent);
    const msg = (await history(t, g.bob, g.id)).find((x) => x.id === ack.message_id);
    if (!msg) throw new Error('poll missing from history');
    const afterMine = applyKindEvent({ ...msg, poll: undefined }, mine, 'bob');
    expect(afterMine.poll).toMatchObject({ mine: 2, voters: 1 });
    expect(applyKindEvent(afterMine, theirs, 'bob').poll).toMatchObject({ mine: 2, voters: 2 });
    for (const c of [aliceWs, bobWs, late]) c.close();
  });
});
