// The chaos proxy itself: what it breaks, and that it never alters a byte of a
// connection it keeps (else the chaos test would test the proxy).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CALM, ChaosProxy, type FaultProfile } from './proxy.ts';

const echo: net.Server[] = [];
const proxies: ChaosProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  for (const s of echo.splice(0)) await new Promise((r) => s.close(r));
});

async function echoServer(): Promise<number> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  echo.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as net.AddressInfo).port;
}

async function proxy(seed: number, faults: Partial<FaultProfile>): Promise<ChaosProxy> {
  const p = await ChaosProxy.start(seed, await echoServer(), { ...CALM, ...faults });
  proxies.push(p);
  return p;
}

/** Sends `data` through the proxy to the echo server; resolves with what came back and how it ended. */
function roundTrip(port: number, data: Buffer): Promise<{ back: Buffer; error: string | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | null = null;
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('data', (c) => {
      chunks.push(c);
      if (Buffer.concat(chunks).length >= data.length) s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    s.on('close', () => resolve({ back: Buffer.concat(chunks), error }));
    // Many small writes: many chunks to split and stall.
    for (let i = 0; i < data.length; i += 997) s.write(data.subarray(i, i + 997));
  });
}

describe('ChaosProxy', () => {
  it('splits and stalls chunks but delivers every byte in order', async () => {
    const p = await proxy(1, { split: 1, pieceGapMs: 2, stall: 0.5, stallMs: [1, 30] });
    const data = randomBytes(200_000);
    const { back, error } = await roundTrip(p.port, data);
    expect(error).toBeNull();
    expect(back.equals(data)).toBe(true);
    expect(p.stats.splits).toBeGreaterThan(1);
    expect(p.stats.stalls).toBeGreaterThan(0);
  });

  it('cuts a connection past its byte budget: the peer gets a strict prefix, then the end', async () => {
    const p = await proxy(2, { killByBytes: 1, killBytes: [5000, 9000], resetShare: 1, split: 0.5 });
    const data = randomBytes(100_000);
    const { back } = await roundTrip(p.port, data);
    expect(back.length).toBeLessThan(data.length);
    expect(back.equals(data.subarray(0, back.length))).toBe(true);
    expect(p.stats.killedByBytes).toBe(1);
  });

  it('refuses connects (reset at once, or the listener closed) and calm() makes it clean again', async () => {
    const p = await proxy(3, { refuse: 1 });
    expect((await roundTrip(p.port, Buffer.from('hello'))).back.length).toBe(0);
    expect(p.stats.refused).toBe(1);
    const outage = p.outage(300);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: p.port });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
      s.on('connect', () => resolve('connected'));
    });
    expect(refused).toBe('ECONNREFUSED');
    await outage;
    p.calm();
    const { back, error } = await roundTrip(p.port, Buffer.from('hello'));
    expect(error).toBeNull();
    expect(back.toString()).toBe('hello');
  });

  it('a dead path swallows bytes and closes nothing, and calm() does not revive it', async () => {
    const p = await proxy(4, { blackhole: 1, blackholeAtChunk: [2, 2] });
    const s = net.connect({ host: '127.0.0.1', port: p.port });
    const got: Buffer[] = [];
    let closed = false;
    s.on('data', (c) => got.push(c));
    s.on('close', () => {
      closed = true;
    });
    s.write('before');
    await new Promise((r) => setTimeout(r, 200));
    expect(Buffer.concat(got).toString()).toBe('before');
    s.write('lost');
    await new Promise((r) => setTimeout(r, 200));
    p.calm();
    s.write('after');
    await new Promise((r) => setTimeout(r, 200));
    expect(Buffer.concat(got).toString()).toBe('before');
    expect(closed).toBe(false);
    expect(p.stats.blackholed).toBe(1);
    s.destroy();
  });

  it('the n-th connection of a seed gets the same plan whatever came before', async () => {
    const plan = async () => {
      const p = await proxy(9, { killByBytes: 0.5, killBytes: [100, 200_000], refuse: 0.3 });
      const lengths: number[] = [];
      for (let i = 0; i < 6; i++)
        lengths.push((await roundTrip(p.port, Buffer.alloc(50_000, i))).back.length);
      return lengths;
    };
    expect(await plan()).toEqual(await plan());
  });
});
