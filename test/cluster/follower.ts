// A client that applies a conversation's events by the delivery contract
// (DESIGN §5): in seq order, dropping seq <= last, repairing a gap over HTTP
// before applying. Multi-node tests assert on what it applied.
import WebSocket from 'ws';
import { Client, type Frame, until } from '../gateway/harness.ts';

export class Follower {
  readonly applied = new Map<string, number[]>();
  /** Seqs that had to be fetched over HTTP (gap repair), not received live or replayed. */
  repaired = 0;
  client: Client | null = null;
  private repairing = Promise.resolve();

  constructor(
    readonly token: string,
    readonly conversations: string[],
  ) {
    for (const c of conversations) this.applied.set(c, []);
  }

  last(conversation: string): number {
    return this.applied.get(conversation)?.at(-1) ?? 0;
  }

  /** Connects to a node's /v1/ws and (re)subscribes every conversation from its last applied seq. */
  async connect(wsUrl: string, httpUrl: string): Promise<void> {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${this.token}` } });
    const client = new Client(ws);
    this.client = client;
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as Frame;
      if (f.type === 'event' && this.applied.has(f.conversation)) this.onEvent(f, httpUrl);
    });
    await until(() => client.opened || client.closed, 'socket open');
    await client.next('welcome');
    for (const c of this.conversations) {
      const before = client.of('subscribed', (f) => f.conversation === c).length;
      client.send({ type: 'subscribe', conversation: c, since_seq: this.last(c) });
      const sub = await until(
        () => client.of('subscribed', (f) => f.conversation === c)[before],
        `subscribed ${c}`,
      );
      if (!sub.complete) await this.repair(c, sub.head_seq, httpUrl);
    }
  }

  private onEvent(f: Frame, httpUrl: string): void {
    const c = f.conversation as string;
    this.repairing = this.repairing.then(async () => {
      const last = this.last(c);
      if (f.seq <= last) return; // idempotent apply
      if (f.seq > last + 1) await this.repair(c, f.seq - 1, httpUrl);
      if (f.seq === this.last(c) + 1) this.applied.get(c)?.push(f.seq);
    });
  }

  /** Fetches (last, upTo] over HTTP and applies it. */
  async repair(conversation: string, upTo: number, httpUrl: string): Promise<void> {
    while (this.last(conversation) < upTo) {
      const res = await fetch(
        `${httpUrl}/v1/conversations/${conversation}/events?after_seq=${this.last(conversation)}&limit=200`,
        { headers: { authorization: `Bearer ${this.token}` } },
      );
      if (!res.ok) throw new Error(`gap fetch failed: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { events: { seq: number }[] };
      if (body.events.length === 0) return;
      for (const e of body.events) {
        if (e.seq !== this.last(conversation) + 1) continue;
        this.applied.get(conversation)?.push(e.seq);
        this.repaired++;
      }
    }
  }

  /** Waits until every listed conversation has applied up to its head. */
  async caughtUp(heads: Record<string, number>, timeoutMs = 20_000): Promise<void> {
    await until(
      async () => {
        await this.repairing;
        return Object.entries(heads).every(([c, h]) => this.last(c) >= h);
      },
      'follower to catch up',
      timeoutMs,
    );
  }

  close(): void {
    this.client?.close();
  }
}
