// SSRF: with only 127.0.0.1 allowed, every other loopback form is refused — by the policy and
// at send time by the dispatcher's sender (create/update over HTTP: webhooks.test.ts). Only loopback addresses are ever
// tried (this machine must send nothing beyond loopback); names are resolved by /etc/hosts
// (`localhost`) or by a stub resolver at the policy's boundary, never by a network resolver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressPolicy, isSpecialAddress, type Resolver } from '../../src/webhooks/address-policy.ts';
import { attemptDelivery } from '../../src/webhooks/sender.ts';
import { type Receiver, startReceiver } from './receiver.ts';

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;

/** A resolver that knows a few test names and nothing else. */
const stub: Resolver = async (host) => {
  const table: Record<string, { address: string; family: 4 | 6 }[]> = {
    'loop.test': [{ address: '127.0.0.1', family: 4 }],
    'mixed.test': [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ],
    'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
    'receiver.test': [{ address: '127.0.0.1', family: 4 }],
  };
  const found = table[host];
  if (!found) throw new Error(`ENOTFOUND ${host}`);
  return found;
};

describe('webhook address policy', () => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver();
    rx.secret = SECRET;
  });
  afterAll(async () => rx?.close());

  const port = () => new URL(rx.url).port;

  it('classifies special addresses, IPv4-mapped IPv6 included', () => {
    for (const a of [
      '127.0.0.1',
      '127.0.0.2',
      '::1',
      '::ffff:127.0.0.1',
      '10.1.2.3',
      'fe80::1',
      '169.254.1.1',
    ])
      expect(isSpecialAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '2606:4700::1111']) expect(isSpecialAddress(a), a).toBe(false);
  });

  it('allows 127.0.0.1 only: other loopback addresses and names that resolve to loopback are refused', async () => {
    const policy = new AddressPolicy(['127.0.0.1'], stub);
    await expect(policy.check(`http://127.0.0.1:${port()}/hook`)).resolves.toMatchObject({
      address: '127.0.0.1',
    });
    for (const url of [
      `http://127.0.0.2:${port()}/hook`,
      `http://[::1]:${port()}/hook`,
      `http://loop.test:${port()}/hook`,
      `http://mixed.test:${port()}/hook`,
      `http://mapped.test:${port()}/hook`,
      `http://unknown.test/hook`,
      'ftp://127.0.0.1/hook',
      `http://user:pw@127.0.0.1:${port()}/hook`,
    ])
      await expect(policy.check(url), url).rejects.toMatchObject({ code: 'WEBHOOK_URL_REFUSED' });
    // `localhost` through the system resolver (/etc/hosts): a name is not the allowed address.
    const system = new AddressPolicy(['127.0.0.1']);
    await expect(system.check(`http://localhost:${port()}/hook`)).rejects.toMatchObject({
      code: 'WEBHOOK_URL_REFUSED',
    });
  });

  it('refuses at send time and sends nothing; a listed name is pinned to its checked address', async () => {
    const policy = new AddressPolicy(['127.0.0.1', 'receiver.test'], stub);
    const before = rx.received.length;
    for (const url of [
      `http://127.0.0.2:${port()}/hook`,
      `http://[::1]:${port()}/hook`,
      `http://loop.test:${port()}/`,
    ]) {
      const res = await attemptDelivery(policy, {
        url,
        secret: SECRET,
        id: 'msg_1',
        body: '{"type":"x","data":{}}',
        timeoutMs: 500,
      });
      expect(res).toMatchObject({ ok: false, status: null });
      expect(res.error).toMatch(/^refused: /);
    }
    expect(rx.received.length).toBe(before);
    // receiver.test exists only in the stub: reaching the receiver proves the connection used
    // the checked address, not a second lookup.
    const ok = await attemptDelivery(policy, {
      url: `http://receiver.test:${port()}/hook`,
      secret: SECRET,
      id: 'msg_2',
      body: '{"type":"x","data":{}}',
      timeoutMs: 2000,
    });
    expect(ok).toMatchObject({ ok: true, status: 204, error: null });
    expect(rx.received.at(-1)).toMatchObject({ id: 'msg_2', verified: true });
  });

  it('times out an attempt that gets no answer', async () => {
    rx.mode = 'hang';
    const res = await attemptDelivery(new AddressPolicy(['127.0.0.1']), {
      url: rx.url,
      secret: SECRET,
      id: 'msg_3',
      body: '{}',
      timeoutMs: 200,
    });
    rx.mode = 'up';
    expect(res).toMatchObject({ ok: false, status: null, error: 'timeout after 200 ms' });
  });
});
