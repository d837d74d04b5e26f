// Thread replies push the thread's participants (the root's author, who replied, who was
// mentioned) who have not read the thread, by the rules of every push — muted, online and
// delivered are skips with their reason, a thread read within the delay is no push, the delay
// holds, a burst coalesces per thread — and never the conversation's other members, nor a
// participant who left. On both stores, against the local Web Push service of push.test.ts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { TokenPair } from '../../src/auth/service.ts';
import { markDelivered } from '../../src/domain/delivery-marker.ts';
import { type PushDelivery, pushSummaryForMessage } from '../../src/push/deliveries.ts';
import type { Device } from '../../src/push/devices.ts';
import { webPushTopic } from '../../src/push/providers/webpush.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { type BrowserSubscription, settled, startWebPushService, type WebPushService } from './fakes.ts';

const DELAY_MS = 600;
const SUBJECT = 'mailto:ops@example.com';
const ENV = {
  HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  HERALD_PUSH_DELAY_MS: String(DELAY_MS),
  HERALD_PUSH_POLL_MS: '50',
  HERALD_PUSH_TIMEOUT_MS: '1000',
  HERALD_VAPID_SUBJECT: SUBJECT,
  // Channels above 4 members are large: they push the mentioned only, threads their participants.
  HERALD_LARGE_CHANNEL_THRESHOLD: '4',
  HERALD_SEND_RATE_MAX: '10000',
};

type Data = Record<string, string>;

describe.each(backends())('thread replies push the thread (%s)', (backend: Backend) => {
  let t: TestHerald;
  let svc: WebPushService;
  beforeAll(async () => {
    svc = await startWebPushService({ subject: SUBJECT });
    t = await startTestHerald({ backend, env: ENV, listen: true });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await svc?.close();
  });

  const call = <T>(
    who: TokenPair,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) => t.call<T>({ method, url, headers: t.bearer(who), ...(payload ? { payload } : {}) });
  const create = async (who: TokenPair, kind: 'group' | 'channel', title: string, members: string[]) =>
    (
      await call<{ conversation: { id: string } }>(who, 'POST', '/v1/conversations', {
        kind,
        title,
        members,
      })
    ).body.conversation.id;
  const send = async (
    who: TokenPair,
    conv: string,
    body: string,
    opts: { thread_root?: string; mentions?: string[] } = {},
  ) => {
    const res = await call<{ message: { id: string; seq: number } }>(
      who,
      'POST',
      `/v1/conversations/${conv}/messages`,
      { body, ...opts },
    );
    expect(res.status).toBe(201);
    return res.body.message;
  };
  const readThread = async (who: TokenPair, conv: string, root: string, seq: number) =>
    expect((await call(who, 'POST', `/v1/conversations/${conv}/threads/${root}/read`, { seq })).status).toBe(
      200,
    );
  const subscribe = async (who: TokenPair, name: string) => {
    const sub = svc.subscribe(name);
    const res = await call<{ device: Device }>(who, 'POST', '/v1/devices', {
      platform: 'webpush',
      subscription: { endpoint: sub.endpoint, keys: sub.keys },
    });
    expect(res.status).toBe(201);
    return { device: res.body.device, sub };
  };
  const pushesTo = (sub: BrowserSubscription) => svc.received.filter((r) => sub.endpoint.endsWith(r.path));
  const threadPushesTo = (sub: BrowserSubscription, root: string) =>
    pushesTo(sub).filter((r) => (r.payload?.data as Data | undefined)?.root_id === root);
  const log = async (who: TokenPair, device: string) =>
    (await call<{ deliveries: PushDelivery[] }>(who, 'GET', `/v1/devices/${device}/deliveries?limit=200`))
      .body.deliveries;
  /** A device's log rows for a thread, oldest first, as [status, reason, first_seq, last_seq]. */
  const threadLog = async (who: TokenPair, device: string, root: string) =>
    (await log(who, device))
      .filter((d) => d.thread_root === root)
      .reverse()
      .map((d) => [d.status, d.reason, d.first_seq, d.last_seq]);
  const connectWs = async (who: TokenPair) => {
    const ws = new WebSocket(`${t.url?.replace('http', 'ws')}/v1/ws?access_token=${who.access_token}`);
    await new Promise<void>((ok, fail) => {
      ws.on('message', (raw) => {
        if (JSON.parse(String(raw)).type === 'welcome') ok();
      });
      ws.on('error', fail);
    });
    return ws;
  };

  it('a reply pushes the participants who have not read the thread, skips with a reason, and nobody else', async () => {
    const { tenant_id } = await t.createTenant();
    const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'henry', 'ivan'] as const;
    const u = Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await t.mintUser(tenant_id, n)] as const)),
    ) as Record<(typeof names)[number], TokenPair>;
    const dev = Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await subscribe(u[n], `${n}-thread`)] as const)),
    ) as Record<(typeof names)[number], { device: Device; sub: BrowserSubscription }>;
    const conv = await create(u.alice, 'group', 'Team', names.slice(1) as unknown as string[]);
    // alice's root; erin, frank, grace, henry and ivan join the thread by replying.
    const root = await send(u.alice, conv, 'shall we ship friday?');
    const joined = [];
    for (const n of ['erin', 'frank', 'grace', 'henry', 'ivan'] as const)
      joined.push(await send(u[n], conv, `${n} is in`, { thread_root: root.id }));
    const last = joined[joined.length - 1].seq;
    await settled(t.db, tenant_id);
    // Everyone catches up (conversation and thread): the scenario starts from nothing unread.
    for (const n of names) {
      expect((await call(u[n], 'POST', `/v1/conversations/${conv}/read`, { seq: last })).status).toBe(200);
      await readThread(u[n], conv, root.id, last);
    }
    expect((await call(u.erin, 'PATCH', `/v1/inbox/${conv}`, { muted: true })).status).toBe(200);
    expect((await call(u.ivan, 'DELETE', `/v1/conversations/${conv}/members/ivan`)).status).toBeLessThan(300);
    const before = new Map(names.map((n) => [n, pushesTo(dev[n].sub).length]));
    const frank = await connectWs(u.frank);
    try {
      // bob replies, mentioning carol: both join the thread with this reply.
      const sentAt = Date.now();
      const reply = await send(u.bob, conv, 'friday it is, @carol?', {
        thread_root: root.id,
        mentions: ['carol'],
      });
      // grace reads the thread within the delay; henry's client acknowledged the reply's event.
      await readThread(u.grace, conv, root.id, reply.seq);
      await markDelivered(t.herald.deps, tenant_id, 'henry', conv, reply.seq);
      await settled(t.db, tenant_id);
      const fresh = (n: (typeof names)[number]) => pushesTo(dev[n].sub).slice(before.get(n));
      // The root's author is pushed after the delay, the mentioned at once (mention delay 0).
      expect(fresh('alice')).toHaveLength(1);
      expect(fresh('carol')).toHaveLength(1);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(DELAY_MS);
      for (const n of ['bob', 'dave', 'erin', 'frank', 'grace', 'henry', 'ivan'] as const)
        expect(fresh(n), n).toEqual([]);
      const [push] = fresh('alice');
      expect(push.vapidProblem).toBeNull();
      expect(push.headers.topic).toBe(webPushTopic(`${conv}:${root.id}`));
      expect(push.payload).toMatchObject({
        kind: 'message',
        title: 'Thread in Team',
        body: 'bob: friday it is, @carol?',
        tag: `${conv}:${root.id}`,
        data: {
          type: 'thread',
          conversation_id: conv,
          root_id: root.id,
          seq: String(reply.seq),
          message_id: reply.id,
          unread: '1',
        },
      });
      // Each device's log says what happened for this reply, and why a phone stayed silent.
      const rowsFor = async (n: (typeof names)[number]) =>
        (await threadLog(u[n], dev[n].device.id, root.id)).filter((r) => Number(r[3]) >= reply.seq);
      expect(await rowsFor('alice')).toEqual([['sent', null, reply.seq, reply.seq]]);
      // carol was mentioned into the thread: her push covers every reply she has not read.
      expect(await rowsFor('carol')).toEqual([['sent', null, joined[0].seq, reply.seq]]);
      expect(await rowsFor('erin')).toEqual([['skipped', 'muted', reply.seq, reply.seq]]);
      expect(await rowsFor('frank')).toEqual([['skipped', 'online', reply.seq, reply.seq]]);
      expect(await rowsFor('henry')).toEqual([['skipped', 'delivered', reply.seq, reply.seq]]);
      // The reader, the sender, the member outside the thread and the one who left: no row at all.
      for (const n of ['bob', 'dave', 'grace', 'ivan'] as const) expect(await rowsFor(n), n).toEqual([]);
      expect((await log(u.dave, dev.dave.device.id)).filter((d) => d.thread_root !== null)).toEqual([]);
      // The per-message summary of the reply counts the thread's pushes; the root's, the conversation's.
      expect(await pushSummaryForMessage(t.db, tenant_id, conv, reply.seq)).toEqual({
        sent: 2,
        pending: 0,
        failed: 0,
        invalid_token: 0,
        skipped: { muted: 1, online: 1, delivered: 1 },
      });
      const rootSummary = await pushSummaryForMessage(t.db, tenant_id, conv, root.seq);
      expect(rootSummary.sent + rootSummary.pending + rootSummary.failed).toBe(names.length - 1);
    } finally {
      frank.close();
    }
  });

  it('a burst of replies is one push per participant, apart from the conversation’s', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => t.mintUser(tenant_id, n)),
    );
    const a = await subscribe(alice, 'alice-burst');
    const c = await subscribe(carol, 'carol-burst');
    const conv = await create(alice, 'group', 'Burst', ['bob', 'carol']);
    const root = await send(alice, conv, 'thoughts?');
    await settled(t.db, tenant_id);
    for (const who of [alice, carol])
      expect((await call(who, 'POST', `/v1/conversations/${conv}/read`, { seq: root.seq })).status).toBe(200);
    const before = { alice: pushesTo(a.sub).length, carol: pushesTo(c.sub).length };
    // Held while the burst is written, so it is one burst however slow the machine is.
    await t.herald.push.dispatcher.stop();
    const r1 = await send(bob, conv, 'one', { thread_root: root.id });
    const main = await send(bob, conv, 'meanwhile, in the channel');
    const r2 = await send(bob, conv, 'two', { thread_root: root.id });
    const r3 = await send(bob, conv, 'three', { thread_root: r1.id }); // a reply to a reply: the same thread
    await t.herald.push.dispatcher.start();
    await settled(t.db, tenant_id);
    // alice (the root's author): one thread push covering the three replies, one conversation
    // push for the main message. carol is no participant: the main message only.
    const alicePushes = pushesTo(a.sub).slice(before.alice);
    expect(alicePushes.map((p) => (p.payload?.data as Data | undefined)?.type).sort()).toEqual([
      'message',
      'thread',
    ]);
    const thread = alicePushes.find((p) => (p.payload?.data as Data | undefined)?.type === 'thread');
    expect(thread?.payload).toMatchObject({ body: 'bob: three', data: { unread: '3', seq: String(r3.seq) } });
    expect(await threadLog(alice, a.device.id, root.id)).toEqual([['sent', null, r1.seq, r3.seq]]);
    expect(
      pushesTo(c.sub)
        .slice(before.carol)
        .map((p) => (p.payload?.data as Data | undefined)?.type),
    ).toEqual(['message']);
    expect(await threadLog(carol, c.device.id, root.id)).toEqual([]);
    // The main message's summary counts the conversation's pushes only, a reply's the thread's.
    expect(await pushSummaryForMessage(t.db, tenant_id, conv, main.seq)).toMatchObject({ sent: 2 });
    for (const r of [r1, r2, r3])
      expect(await pushSummaryForMessage(t.db, tenant_id, conv, r.seq)).toMatchObject({ sent: 1 });
    // Decided is decided: the next reply is a new push from after the covered seqs.
    const r4 = await send(bob, conv, 'four', { thread_root: root.id });
    await settled(t.db, tenant_id);
    expect(await threadLog(alice, a.device.id, root.id)).toEqual([
      ['sent', null, r1.seq, r3.seq],
      ['sent', null, r4.seq, r4.seq],
    ]);
    expect(threadPushesTo(a.sub, root.id)).toHaveLength(2);
  });

  it('a thread in a large channel pushes its participants, not the channel', async () => {
    const { tenant_id } = await t.createTenant();
    const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
    const users = await Promise.all(names.map((n) => t.mintUser(tenant_id, n)));
    const subs = await Promise.all(users.map((who, i) => subscribe(who, `${names[i]}-large`)));
    const conv = await create(users[0], 'channel', 'Everyone', names.slice(1));
    const root = await send(users[0], conv, 'announcement-ish');
    await settled(t.db, tenant_id);
    // Large: nobody was mentioned, so the root pushed nobody.
    for (const s of subs) expect(pushesTo(s.sub)).toEqual([]);
    // A long reply shows as the conversation's preview would: its first 140 code points.
    const reply = await send(users[1], conv, '🙂'.repeat(150), { thread_root: root.id });
    await settled(t.db, tenant_id);
    const pushes = threadPushesTo(subs[0].sub, root.id);
    expect(pushes.map((p) => p.payload?.body)).toEqual([`bob: ${'🙂'.repeat(140)}`]);
    for (const s of subs.slice(1)) expect(pushesTo(s.sub)).toEqual([]);
    expect(await threadLog(users[0], subs[0].device.id, root.id)).toEqual([
      ['sent', null, reply.seq, reply.seq],
    ]);
  });

  it('a reply deleted, or read with a `thread_read` frame, before the decision is not pushed', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob] = await Promise.all(['alice', 'bob'].map((n) => t.mintUser(tenant_id, n)));
    const a = await subscribe(alice, 'alice-gone');
    const conv = await create(alice, 'group', 'Oops', ['bob']);
    const root = await send(alice, conv, 'root');
    await settled(t.db, tenant_id);
    const before = pushesTo(a.sub).length;
    // Held, so both happen before the decision whatever the machine's speed.
    await t.herald.push.dispatcher.stop();
    try {
      const r1 = await send(bob, conv, 'wrong thread', { thread_root: root.id });
      expect((await call(bob, 'DELETE', `/v1/conversations/${conv}/messages/${r1.id}`)).status).toBeLessThan(
        300,
      );
      const r2 = await send(bob, conv, 'right thread', { thread_root: root.id });
      // alice reads it on her socket, then leaves (a connected socket alone would skip her: online).
      const ws = await connectWs(alice);
      const entry = new Promise<{ last_read_seq: number }>((ok) =>
        ws.on('message', (raw) => {
          const f = JSON.parse(String(raw));
          if (f.type === 'thread' && f.entry.last_read_seq === r2.seq) ok(f.entry);
        }),
      );
      ws.send(JSON.stringify({ type: 'thread_read', conversation: conv, root_id: root.id, seq: r2.seq }));
      expect(await entry).toMatchObject({ unread_count: 0 });
      ws.close();
      while ((await t.herald.adapters.connections.ofUser(tenant_id, 'alice', Date.now())).length > 0)
        await new Promise((r) => setTimeout(r, 20));
    } finally {
      await t.herald.push.dispatcher.start();
    }
    await settled(t.db, tenant_id);
    expect(pushesTo(a.sub).slice(before)).toEqual([]);
    expect(await threadLog(alice, a.device.id, root.id)).toEqual([]);
  });
});
