// A webhook receiver on 127.0.0.1 for tests: verifies every request with the
// standardwebhooks library, records it, and answers per its current mode.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  type: string;
  /** Set for conversation events only (they go in seq order). */
  conversation: string | null;
  seq: number | null;
  body: Record<string, unknown>;
  verified: boolean;
}

/** `up`: 204; `down`: 503; `hang`: never answers; a function decides per request. */
export type Mode = 'up' | 'down' | 'hang' | ((r: Received) => 'up' | 'down');

export interface Receiver {
  url: string;
  mode: Mode;
  secret: string;
  received: Received[];
  /** Resolves when pred holds over what was received (polled on each request). */
  until(pred: (r: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const waiters = new Set<() => void>();
  const hung = new Set<http.ServerResponse>();
  const r: Receiver = {
    url: '',
    mode: 'up',
    secret: '',
    received: [],
    until(pred, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pred(r.received)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: condition not met in ${timeoutMs} ms (${r.received.length} received)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const res of hung) res.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      try {
        new Webhook(r.secret).verify(raw, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const parsed = JSON.parse(raw) as {
        type: string;
        data: { conversation_id?: string; seq?: number; event?: unknown };
      };
      const body = { ...parsed, data: parsed.data ?? {} };
      // Conversation events carry {conversation_id, seq, event}; reads and notices are not in seq order.
      const inLog = body.data.event !== undefined;
      const rec: Received = {
        id: String(req.headers['webhook-id']),
        type: body.type,
        conversation: inLog ? (body.data.conversation_id ?? null) : null,
        seq: inLog ? (body.data.seq ?? null) : null,
        body,
        verified,
      };
      const mode = typeof r.mode === 'function' ? r.mode(rec) : r.mode;
      if (mode === 'hang') {
        hung.add(res);
        return;
      }
      if (mode === 'up') r.received.push(rec);
      res.statusCode = mode === 'up' ? 204 : 503;
      res.end();
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}

/** Polls `fn` until it returns a truthy value (a deadline, never a bare sleep). */
export async function eventually<T>(
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('eventually: timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
