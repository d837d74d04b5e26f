// POST /v1/conversations/{id}/typing — the typing frame over HTTP for clients
// on the SSE downlink: members only, throttled to one publish per second per
// user and conversation, delivered to subscribers as the usual `typing` frame.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { TokenPair } from '../../src/auth/service.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('typing over HTTP (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true });
  }, 60_000);
  afterAll(async () => t?.close());

  /** Bob on a raw socket, subscribed to the conversation; collects every frame. */
  async function watcher(token: string, conversation: string) {
    const frames: Record<string, unknown>[] = [];
    const ws = new WebSocket(`${(t.url as string).replace('http', 'ws')}/v1/ws?v=1`, [
      'herald.v1',
      `herald.bearer.${token}`,
    ]);
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    await waitFor(() => frames.some((f) => f.type === 'welcome'), 10_000, 'welcome');
    ws.send(JSON.stringify({ type: 'subscribe', conversation }));
    await waitFor(() => frames.some((f) => f.type === 'subscribed'), 10_000, 'subscribed');
    return { frames, typing: () => frames.filter((f) => f.type === 'typing'), close: () => ws.close() };
  }

  it('announces a member typing to subscribers, at most once per second; refuses others', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const eve = await t.mintUser(tenant_id, 'eve');
    const direct = await t.call<{ conversation: { id: string } }>({
      method: 'PUT',
      url: '/v1/direct/bob',
      headers: t.bearer(alice),
    });
    const conv = direct.body.conversation.id;
    const b = await watcher(bob.access_token, conv);
    const typing = (who: TokenPair | null, id = conv) =>
      t.call({
        method: 'POST',
        url: `/v1/conversations/${id}/typing`,
        headers: who ? t.bearer(who) : {},
      });

    expect((await typing(alice)).status).toBe(204);
    expect((await typing(alice)).status).toBe(204); // within the second: accepted, not announced
    await waitFor(() => b.typing().length === 1, 10_000, 'typing frame');
    expect(b.typing()[0]).toEqual({ type: 'typing', conversation: conv, user_id: 'alice', ttl_ms: 3000 });

    expect((await typing(eve)).body).toMatchObject({ error: { code: 'NOT_A_MEMBER' } });
    expect((await typing(eve)).status).toBe(403);
    expect((await typing(alice, 'no-such-conversation')).status).toBe(404);
    expect((await typing(null)).body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    // Nothing of the refused ones reached bob (a barrier: alice again, after the throttle window).
    await new Promise((r) => setTimeout(r, 1_050));
    expect((await typing(alice)).status).toBe(204);
    await waitFor(() => b.typing().length === 2, 10_000, 'second typing frame');
    expect(b.typing().map((f) => f.user_id)).toEqual(['alice', 'alice']);
    b.close();
  });
});
