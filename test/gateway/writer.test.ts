// The per-connection Writer on real TCP sockets: frames byte-identical to ws's own
// framing, a tick's frames in one write, and a cut that drops the backlog and puts the
// close reason right behind the bytes already in flight — with a reader that is paused.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FlushScheduler, Writer, wsTextFrame } from '../../src/gateway/writer.ts';
import { until } from './harness.ts';

/** ws's own framing (not in its type definitions), the reference for wsTextFrame. */
const { Sender } = createRequire(import.meta.url)('ws') as {
  Sender: { frame(data: Buffer, o: Record<string, unknown>): Buffer[] };
};

interface Pair {
  server: Socket;
  client: Socket;
  received: Buffer[];
  close(): void;
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function pair(): Promise<Pair> {
  const srv = createServer();
  servers.push(srv);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection');
  const client = tcpConnect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = (await accepted) as [Socket];
  const received: Buffer[] = [];
  client.on('data', (d) => received.push(d));
  return {
    server,
    client,
    received,
    close() {
      client.destroy();
      server.destroy();
    },
  };
}

/** Splits a byte stream of unmasked, unfragmented text frames; a trailing partial frame is left out. */
function textFrames(bytes: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i + 2 <= bytes.length) {
    let len = bytes[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    if (at + len > bytes.length) break;
    out.push(bytes.subarray(at, at + len).toString('utf8'));
    i = at + len;
  }
  return out;
}

describe('gateway writer', () => {
  it('builds the same bytes as ws for every length class and multi-byte text', () => {
    for (const text of ['', 'a', 'x'.repeat(125), 'x'.repeat(126), 'é'.repeat(40_000), 'y'.repeat(70_000)]) {
      const data = Buffer.from(text, 'utf8');
      const ref = Buffer.concat(
        Sender.frame(data, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }),
      );
      expect(wsTextFrame(text).equals(ref), `length ${data.length}`).toBe(true);
    }
  });

  it("hands one tick's frames to the socket in one corked write, in order", async () => {
    const p = await pair();
    const calls = { write: 0, writev: 0 };
    const s = p.server as Socket & { _write: unknown; _writev: unknown };
    const write = s._write as (...a: unknown[]) => void;
    const writev = s._writev as (...a: unknown[]) => void;
    s._write = (...a: unknown[]) => {
      calls.write++;
      write.apply(s, a);
    };
    s._writev = (...a: unknown[]) => {
      calls.writev++;
      writev.apply(s, a);
    };
    const w = new Writer(p.server, new FlushScheduler(), 64 * 1024);
    const frames = Array.from({ length: 20 }, (_, i) => wsTextFrame(`{"n":${i}}`));
    for (const f of frames) w.enqueue(f);
    expect(calls).toEqual({ write: 0, writev: 0 }); // nothing before the tick ends
    const total = frames.reduce((n, f) => n + f.length, 0);
    await until(() => p.received.reduce((n, b) => n + b.length, 0) === total, 'every frame');
    expect(calls).toEqual({ write: 0, writev: 1 });
    expect(textFrames(Buffer.concat(p.received))).toEqual(frames.map((_, i) => `{"n":${i}}`));
    p.close();
  });

  it('the first event of a turn is flushed when its dispatcher yields; the rest of the turn leaves at its end', async () => {
    const p = await pair();
    const flusher = new FlushScheduler();
    const w = new Writer(p.server, flusher, 64 * 1024);
    const bytes = () => p.server.bytesWritten;
    const [a, a2, b, c, d] = ['a', 'a2', 'b', 'c', 'd'].map((n) => wsTextFrame(`{"n":"${n}"}`));
    w.enqueue(a);
    flusher.eager(); // an event was dispatched
    w.enqueue(a2); // dispatched in the same synchronous run: shares its write
    expect(bytes()).toBe(0);
    await Promise.resolve(); // the dispatcher yields
    expect(bytes()).toBe(a.length + a2.length);
    w.enqueue(b);
    flusher.eager(); // a second event in the same turn: batched
    w.enqueue(c);
    await Promise.resolve();
    expect(bytes()).toBe(a.length + a2.length);
    await new Promise((r) => setImmediate(r)); // the turn ends
    const total = a.length + a2.length + b.length + c.length;
    expect(bytes()).toBe(total);
    await until(() => p.received.reduce((n, x) => n + x.length, 0) === total, 'every frame');
    expect(textFrames(Buffer.concat(p.received))).toEqual([
      '{"n":"a"}',
      '{"n":"a2"}',
      '{"n":"b"}',
      '{"n":"c"}',
    ]);
    // A new turn: eager again.
    w.enqueue(d);
    flusher.eager();
    await Promise.resolve();
    expect(bytes()).toBe(total + d.length);
    p.close();
  });

  it('a cut drops the queued backlog: the reason follows the bytes in flight, not the backlog', async () => {
    const p = await pair();
    p.client.pause(); // The reader stops: the kernel buffers fill, then the writer's queue.
    const w = new Writer(p.server, new FlushScheduler(), 16 * 1024);
    const frame = (i: number) => wsTextFrame(JSON.stringify({ n: i, pad: 'z'.repeat(8 * 1024) }));
    let n = 0;
    // Fill until frames wait in the writer's own queue (beyond what the socket holds).
    await until(
      () => {
        for (let k = 0; k < 64; k++) w.enqueue(frame(n++));
        return w.bufferedAmount - p.server.writableLength > 256 * 1024;
      },
      'a backlog behind a full kernel',
      20_000,
    );
    const enqueued = n;
    const dropped = w.end(true);
    expect(dropped).toBeGreaterThan(256 * 1024);
    const close = wsTextFrame('{"type":"close"}');
    p.server.write(close); // what a close frame does: straight to the socket
    w.enqueue(frame(n++)); // nothing more after the end
    p.client.resume();
    await until(
      () => Buffer.concat(p.received).subarray(-close.length).equals(close),
      'the close marker',
      20_000,
    );
    const got = textFrames(Buffer.concat(p.received));
    expect(got.at(-1)).toBe('{"type":"close"}');
    const seen = got.slice(0, -1).map((t) => (JSON.parse(t) as { n: number }).n);
    // A prefix, whole frames only, and the backlog (at least `dropped` bytes of frames) never sent.
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i));
    expect(seen.length).toBeLessThanOrEqual(enqueued - Math.floor(dropped / frame(enqueued).length));
    p.close();
  });
});
