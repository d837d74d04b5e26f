// Shared by the kinds' suites (reactions, polls): a listening node per backend, a group of
// alice and bob (carol is in the tenant but not the group), calls on a message, history and
// the event log as a user sees them, and raw sockets subscribed to the group.
import type { TokenPair } from '../../src/auth/service.ts';
import type { ConversationEvent, Message } from '../../src/protocol/index.ts';
import { type Client, subscribe } from '../gateway/harness.ts';
import { openWs } from '../security/support.ts';
import type { TestHerald } from '../support/herald.ts';

export interface Group {
  tenant: string;
  alice: TokenPair;
  bob: TokenPair;
  carol: TokenPair;
  id: string;
}

export async function group(t: TestHerald): Promise<Group> {
  const { tenant_id } = await t.createTenant();
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((u) => t.mintUser(tenant_id, u)),
  );
  const res = await t.call<{ conversation: { id: string } }>({
    method: 'POST',
    url: '/v1/conversations',
    headers: t.bearer(alice),
    payload: { kind: 'group', title: 'g', members: ['bob'] },
  });
  return { tenant: tenant_id, alice, bob, carol, id: res.body.conversation.id };
}

export async function send(t: TestHerald, who: TokenPair, conversation: string, payload: object) {
  return t.call<{ message: Message; error?: { code: string } }>({
    method: 'POST',
    url: `/v1/conversations/${conversation}/messages`,
    headers: t.bearer(who),
    payload,
  });
}

/** A call under /v1/conversations/{conversation}/messages/{message}/. */
export async function onMessage<T = Record<string, unknown>>(
  t: TestHerald,
  who: TokenPair,
  method: 'POST' | 'DELETE',
  conversation: string,
  message: string,
  path: string,
  payload?: object,
) {
  return t.call<T & { error?: { code: string } }>({
    method,
    url: `/v1/conversations/${conversation}/messages/${message}/${path}`,
    headers: t.bearer(who),
    ...(payload ? { payload } : {}),
  });
}

export async function history(t: TestHerald, who: TokenPair, conversation: string): Promise<Message[]> {
  const res = await t.call<{ messages: Message[] }>({
    method: 'GET',
    url: `/v1/conversations/${conversation}/messages`,
    headers: t.bearer(who),
  });
  return res.body.messages;
}

export async function events(t: TestHerald, who: TokenPair, conversation: string, after = 0) {
  const res = await t.call<{ events: { seq: number; event: ConversationEvent }[]; head_seq: number }>({
    method: 'GET',
    url: `/v1/conversations/${conversation}/events?after_seq=${after}`,
    headers: t.bearer(who),
  });
  return res.body;
}

/** A welcomed socket of `who`, subscribed to `conversation` (from `since`, when given). */
export async function watch(
  t: TestHerald,
  who: TokenPair,
  conversation: string,
  since?: number,
): Promise<Client> {
  const c = await openWs(t, who.access_token);
  await c.next('welcome');
  await subscribe(c, conversation, since);
  return c;
}
