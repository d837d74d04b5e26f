// The SDK against a real node with short-lived tokens (HERALD_ACCESS_TTL_SEC)
// and the default limits: renewal without a storm, the gateway's
// `token_expiring` timing, `welcome.limits`, and a paced flush of sends queued
// offline. One backend (PostgreSQL): this is about the gateway and the SDK,
// not the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HeraldClient } from '../../src/client/index.ts';
import { CLOSE, type ServerFrame } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';

const TTL_SEC = 5;

describe('SDK against a real node with short-lived tokens and default limits', () => {
  let t: TestHerald;
  let tenant: string;
  const clients: HeraldClient[] = [];
  beforeAll(async () => {
    t = await startTestHerald({
      backend: 'postgres',
      listen: true,
      env: { HERALD_ACCESS_TTL_SEC: String(TTL_SEC) },
    });
    tenant = (await t.createTenant()).tenant_id;
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.close();
  });

  function client(user: string, token: string, onToken: () => void = () => {}): HeraldClient {
    const c = new HeraldClient({
      url: t.url as string,
      token,
      getToken: async () => {
        onToken();
        return (await t.mintUser(tenant, user)).access_token;
      },
      WebSocket,
    });
    clients.push(c);
    return c;
  }

  function closesOf(c: HeraldClient): number[] {
    const codes: number[] = [];
    c.on('state', (s) => {
      if (s.to === 'reconnecting') codes.push(s.closeCode ?? -1);
    });
    return codes;
  }

  it('welcome announces the limits; token_expiring comes late in the life, and not again for the same token', async () => {
    const { access_token } = await t.mintUser(tenant, 'raw');
    const ws = new WebSocket(`${(t.url as string).replace('http', 'ws')}/v1/ws?device_id=d-raw&v=1`, [
      'herald.v1',
      `herald.bearer.${access_token}`,
    ]);
    const frames: { at: number; frame: ServerFrame }[] = [];
    ws.on('message', (d) => frames.push({ at: Date.now(), frame: JSON.parse(String(d)) as ServerFrame }));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const of = (type: string) => frames.filter((f) => f.frame.type === type);
    await waitFor(() => of('welcome').length === 1, 10_000, 'welcome');
    const welcome = of('welcome')[0];
    expect(welcome.frame).toMatchObject({
      limits: { send_per_sec: 20, send_burst: 20, frames_per_sec: 30, frames_burst: 60 },
    });
    const expiresAt = (welcome.frame as { expires_at: number }).expires_at * 1000;
    await waitFor(() => of('token_expiring').length === 1, 10_000, 'token_expiring');
    // At two thirds of the life (the 60 s lead would be "now" for these tokens). Measured from our
    // receipt of the welcome, which trails the server arming the timer: at least half the life.
    const left = expiresAt - welcome.at;
    expect(of('token_expiring')[0].at - welcome.at).toBeGreaterThanOrEqual(left / 2);
    // The same token again: its expiry did not move, so no new hint; the session ends at expiry.
    ws.send(JSON.stringify({ type: 'auth', token: access_token }));
    expect(await closed).toBe(CLOSE.TOKEN_EXPIRED);
    expect(of('token_expiring')).toHaveLength(1);
  });

  it(`an idle client with ${TTL_SEC} s tokens renews a few times, stays connected, and still works`, async () => {
    let calls = 0;
    const c = client('idle', (await t.mintUser(tenant, 'idle')).access_token, () => calls++);
    const closes = closesOf(c);
    c.connect();
    await c.ready();
    const started = Date.now();
    // Two lifetimes and more: the first token would be long dead without renewals.
    await waitFor(() => Date.now() - started >= 2 * TTL_SEC * 1000 + 500, 20_000, 'two lifetimes');
    expect(closes).toEqual([]);
    // About one renewal per half-life; a storm would be thousands.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(8);
    await t.mintUser(tenant, 'idle-peer');
    const { conversation } = await c.http.direct('idle-peer');
    await c.send(conversation.id, 'still here').done;
  });

  it('150 sends queued offline are flushed within the limits: no close, no refusal, each once', async () => {
    const sender = client('sender', (await t.mintUser(tenant, 'sender')).access_token);
    await t.mintUser(tenant, 'receiver');
    const { conversation } = await sender.http.direct('receiver');
    const closes = closesOf(sender);
    const errors: string[] = [];
    sender.on('error', (e) => errors.push(e.code));
    const out = Array.from({ length: 150 }, (_, i) => sender.send(conversation.id, `m${i}`));
    sender.connect();
    await Promise.all(out.map((m) => m.done));
    expect(closes).toEqual([]);
    expect(errors).toEqual([]);
    const page = await sender.http.messages(conversation.id, { afterSeq: 0, limit: 200 });
    const ids = page.messages.map((m) => m.client_id);
    expect(ids).toHaveLength(150);
    expect(new Set(ids)).toEqual(new Set(out.map((m) => m.client_id)));
  }, 60_000);
});
