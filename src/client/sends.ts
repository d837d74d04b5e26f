// The send side of the outbox: making a send (its client_id and storage
// order), writing queued sends in order, holding all of them after a retryable
// refusal (a rate limit or an outage applies to every send, and they keep their
// order), confirming by ack or by the send's own event, and the sends that came
// from storage.
import type { Message } from '../protocol/model.ts';
import type { HeraldClientError } from './errors.ts';
import { Outbox, OutgoingMessage, type SendOptions, type SentMessage } from './outbox.ts';
import type { FlushContext, FlushLane } from './paced-flush.ts';
import type { Persistence } from './persistence.ts';
import type { StoredSend } from './storage.ts';
import { randomId } from './uuid.ts';

export interface SendsDeps {
  persistence: Persistence | null;
  now(): number;
  retryDelay(attempt: number): number;
  createClientId?: () => string;
  /** A send was confirmed (once). */
  sent(result: SentMessage): void;
}

export class Sends implements FlushLane {
  readonly outbox: Outbox;
  /** Sends that came from storage (dropped if the storage was another user's). */
  private readonly restored = new Set<string>();
  private lastOrder = 0;
  /** After a retryable `error` for a send: no send before this time. */
  private pausedUntil = 0;
  private retries = 0;

  constructor(private readonly deps: SendsDeps) {
    this.outbox = new Outbox((m) => deps.persistence?.push({ op: 'deleteSend', client_id: m.client_id }));
  }

  add(conversation: string, body: string, opts: SendOptions): OutgoingMessage {
    const { client_id, ...rest } = opts;
    const id = client_id ?? this.deps.createClientId?.() ?? randomId();
    const m = new OutgoingMessage(id, conversation, body, rest);
    this.outbox.add(m);
    this.deps.persistence?.push({
      op: 'putSend',
      send: { client_id: id, conversation, body, options: rest, order: this.nextOrder() },
    });
    return m;
  }

  /**
   * Sends made before a reload go first, in the order they were made, with their client_id: the
   * server is idempotent on it, so one that had reached it comes back as the original.
   */
  restore(pending: StoredSend[]): void {
    const sends: OutgoingMessage[] = [];
    for (const p of pending) {
      if (!p || typeof p.client_id !== 'string' || typeof p.conversation !== 'string') continue;
      sends.push(new OutgoingMessage(p.client_id, p.conversation, String(p.body ?? ''), p.options ?? {}));
      this.restored.add(p.client_id);
      this.lastOrder = Math.max(this.lastOrder, Number(p.order) || 0);
    }
    this.outbox.restore(sends);
  }

  /** After disconnect(): the sends still in storage back in the outbox, oldest first. */
  reload(pending: StoredSend[]): void {
    const sends = pending
      .filter((p) => p && typeof p.client_id === 'string' && !this.outbox.get(p.client_id))
      .map((p) => new OutgoingMessage(p.client_id, p.conversation, String(p.body ?? ''), p.options ?? {}));
    this.outbox.restore(sends);
  }

  /** The storage was another user's: the sends that came from it fail and are never sent. */
  dropRestored(err: HeraldClientError): void {
    for (const id of this.restored) this.outbox.fail(id, err);
    this.restored.clear();
  }

  /** Stores every unconfirmed send again, in outbox order (after the storage was cleared). */
  storeAll(persistence: Persistence): void {
    for (const [i, m] of this.outbox.list().entries()) {
      const { client_id, conversation, body, options } = m;
      persistence.push({ op: 'putSend', send: { client_id, conversation, body, options, order: i + 1 } });
    }
  }

  /**
   * An `error` frame naming a send: `failed` for good, or `retry` (same client_id later: the server
   * is idempotent on it; every send is held meanwhile); null when the ref is no send of ours.
   */
  refused(ref: string, err: HeraldClientError, retry: boolean): 'failed' | 'retry' | null {
    const m = this.outbox.get(ref);
    if (!m) return null;
    if (!retry) {
      this.outbox.fail(ref, err);
      return 'failed';
    }
    m._requeue();
    const until = this.deps.now() + this.deps.retryDelay(this.retries++);
    this.pausedUntil = Math.max(this.pausedUntil, until);
    return 'retry';
  }

  /** An `ack`: it must be for the send's conversation. */
  acked(result: SentMessage): void {
    if (this.outbox.get(result.client_id)?.conversation === result.conversation) this.confirm(result);
  }

  /** A message event: confirms the pending send it carries, if it is this user's own. */
  applied(conversation: string, seq: number, message: Message, userId: string | undefined): void {
    // client_id is unique per sender only: someone else's message with the same id confirms nothing.
    const pending = message.client_id ? this.outbox.get(message.client_id) : undefined;
    if (
      message.client_id &&
      pending?.conversation === conversation &&
      message.sender.type === 'user' &&
      message.sender.user_id === userId
    ) {
      this.confirm({ client_id: message.client_id, conversation, seq, message_id: message.id, message });
    }
  }

  drain(ctx: FlushContext): boolean {
    if (this.pausedUntil > ctx.now) {
      if (this.outbox.list().some((m) => m.status === 'queued')) ctx.later(this.pausedUntil - ctx.now);
      return true;
    }
    for (const m of this.outbox.list()) {
      if (m.status !== 'queued') continue;
      if (!ctx.mayWrite(true)) return false;
      if (!ctx.write(m._frame())) return false;
      ctx.sendWritten();
      m._markSent();
    }
    return true;
  }

  private confirm(result: SentMessage): void {
    if (this.outbox.confirm(result.client_id, result)) {
      this.retries = 0;
      this.deps.sent(result);
    }
  }

  /** Orders sends across reloads: increasing, and after anything restored. */
  private nextOrder(): number {
    this.lastOrder = Math.max(this.lastOrder + 1, Date.now() * 1000);
    return this.lastOrder;
  }
}
