// @vitest-environment happy-dom
// @herald/react against a real listening node: alice's page is a React tree
// (HeraldProvider + hooks) in happy-dom, "served" from the node's origin;
// bob is a plain HeraldClient. Live delivery into the timeline, an
// optimistic send that is on screen exactly once through every render and
// stored once, unread counts and the read marker, typing and presence — as
// the server sees them.
import type { HeraldClient } from '@herald/client';
import { HeraldProvider, useConversation, useInbox, usePresence, useTyping, useUnread } from '@herald/react';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { sdkClient } from '../support/sdk-client.ts';

const WAIT = { timeout: 15_000 };

describe('@herald/react against a real node', { timeout: 90_000 }, () => {
  let t: TestHerald;
  let tenant: string;
  const clients: HeraldClient[] = [];

  beforeAll(async () => {
    t = await startTestHerald({ listen: true });
    tenant = (await t.createTenant()).tenant_id;
    (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${t.url}/`);
  });
  afterAll(async () => {
    cleanup();
    for (const c of clients) c.disconnect();
    await (
      window as unknown as { happyDOM: { waitUntilComplete(): Promise<void> } }
    ).happyDOM.waitUntilComplete();
    await t?.close();
  });

  const client = (user: string, opts: { connect?: boolean } = {}) =>
    sdkClient(t, tenant, user, { deviceId: `${user}-device`, clients, ...opts });

  it('chats: live timeline, optimistic send once, unread and read, typing, presence', async () => {
    const bob = await client('bob');
    const alice = await client('alice', { connect: false });
    const { conversation } = await bob.http.direct('alice');
    const conv = conversation.id;
    bob.open(conv, { sinceSeq: 0 });

    const renders: { messages: string[]; outgoing: string[] }[] = [];
    let room: ReturnType<typeof useConversation> | null = null;
    function Room() {
      room = useConversation(conv, { sinceSeq: 0 });
      const typing = useTyping(conv);
      const present = usePresence(conv);
      renders.push({
        messages: room.messages.map((m) => `${m.body}|${m.client_id ?? ''}`),
        outgoing: room.outgoing.map((o) => `${o.body}|${o.client_id}`),
      });
      return (
        <>
          <ol data-testid="timeline">
            {room.messages.map((m) => (
              <li key={m.id}>{m.body}</li>
            ))}
            {room.outgoing.map((o) => (
              <li key={o.client_id}>{o.body}</li>
            ))}
          </ol>
          <p data-testid="typing">{typing.users.join(',')}</p>
          <p data-testid="present">{[...new Set(present.map((p) => p.user_id))].sort().join(',')}</p>
        </>
      );
    }
    function Unread() {
      const { totals } = useInbox();
      return <p data-testid="unread">{`${useUnread(conv)}/${totals.unread}`}</p>;
    }
    render(
      <HeraldProvider client={alice}>
        <Room />
        <Unread />
      </HeraldProvider>,
    );
    await waitFor(() => expect(alice.state).toBe('connected'), WAIT);
    await waitFor(() => expect(room?.status).toBe('subscribed'), WAIT);

    // Bob writes: alice's timeline shows it live, her inbox counts it.
    const fromBob = bob.send(conv, 'hi alice');
    await fromBob.done;
    await waitFor(() => expect(screen.getByTestId('timeline').textContent).toBe('hi alice'), WAIT);
    await waitFor(() => expect(screen.getByTestId('unread').textContent).toBe('1/1'), WAIT);

    // Alice reads: the count drops at once (optimistic) and the server agrees.
    act(() => room!.markRead());
    expect(screen.getByTestId('unread').textContent).toBe('0/0');
    const aliceToken = await t.mintUser(tenant, 'alice');
    await waitFor(async () => {
      const inbox = await t.call<{ entries: { unread_count: number }[] }>({
        method: 'GET',
        url: '/v1/inbox',
        headers: t.bearer(aliceToken),
      });
      expect(inbox.body.entries.map((e) => e.unread_count)).toEqual([0]);
    }, WAIT);

    // Alice answers: optimistic at once, then her message — on screen once in every render.
    let clientId = '';
    act(() => {
      clientId = room!.send('hi bob').client_id;
    });
    expect(screen.getByTestId('timeline').textContent).toBe('hi alicehi bob');
    await waitFor(
      () => expect(renders.at(-1)?.messages).toEqual([`hi alice|${fromBob.client_id}`, `hi bob|${clientId}`]),
      WAIT,
    );
    expect(renders.at(-1)?.outgoing).toEqual([]);
    const from = renders.findIndex((r) => r.outgoing.some((o) => o.endsWith(clientId)));
    for (const r of renders.slice(from)) {
      const shown = [...r.messages, ...r.outgoing].filter((x) => x.endsWith(`|${clientId}`));
      expect(shown).toHaveLength(1);
    }
    const history = await bob.http.messages(conv, { limit: 10 });
    expect(history.messages.filter((m) => m.client_id === clientId)).toHaveLength(1);

    // Bob types; then his device shows as present in alice's room.
    bob.typing(conv);
    await waitFor(() => expect(screen.getByTestId('typing').textContent).toBe('bob'), WAIT);
    await waitFor(() => expect(screen.getByTestId('present').textContent).toContain('bob'), WAIT);
  });
});
