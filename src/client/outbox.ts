// Optimistic sends. Each send gets a client_id once and keeps it for life:
// retries after a reconnect reuse it, and the server is idempotent on
// (tenant, sender, client_id), so a retry never makes a second message.
// A send is confirmed by whichever comes first — `ack {client_id}` for its
// conversation, or the `event` in its conversation whose message carries the
// same client_id and was sent by this user (client_id is unique per sender
// only) — and the other is a no-op. The client checks both before confirm().
import type { Message } from '../protocol/model.ts';
import type { MessageInputFields } from '../protocol/schema.ts';
import type { HeraldClientError } from './errors.ts';

/**
 * A send's fields besides its body: the protocol's message input (src/protocol/schema.ts, the
 * schema the server validates with). `client_id`: supply your own (e.g. one persisted with a
 * draft); default crypto.randomUUID().
 */
export type SendOptions = Omit<MessageInputFields, 'body'>;

export interface SentMessage {
  client_id: string;
  conversation: string;
  seq: number;
  message_id: string;
  /** Present when the confirming `event` arrived before (or instead of) the ack. */
  message?: Message;
}

/** queued: waiting for a socket; sent: written, unconfirmed; confirmed / failed: final. */
export type OutgoingStatus = 'queued' | 'sent' | 'confirmed' | 'failed';

export class OutgoingMessage {
  readonly done: Promise<SentMessage>;
  private _status: OutgoingStatus = 'queued';
  private _result: SentMessage | null = null;
  private _error: HeraldClientError | null = null;
  private resolveDone!: (m: SentMessage) => void;
  private rejectDone!: (e: HeraldClientError) => void;

  constructor(
    readonly client_id: string,
    readonly conversation: string,
    readonly body: string,
    readonly options: Omit<SendOptions, 'client_id'>,
  ) {
    this.done = new Promise<SentMessage>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Callers who only render `status` need not await `done`; never an unhandled rejection.
    this.done.catch(() => {});
  }

  get status(): OutgoingStatus {
    return this._status;
  }
  get result(): SentMessage | null {
    return this._result;
  }
  get error(): HeraldClientError | null {
    return this._error;
  }

  /** @internal */
  _frame() {
    return {
      type: 'send' as const,
      conversation: this.conversation,
      client_id: this.client_id,
      body: this.body,
      ...this.options,
    };
  }
  /** @internal */
  _markSent(): void {
    if (this._status === 'queued') this._status = 'sent';
  }
  /** @internal The socket dropped before confirmation: send again on the next one. */
  _requeue(): void {
    if (this._status === 'sent') this._status = 'queued';
  }
  /** @internal */
  _confirm(result: SentMessage): void {
    this._status = 'confirmed';
    this._result = result;
    this.resolveDone(result);
  }
  /** @internal */
  _fail(err: HeraldClientError): void {
    this._status = 'failed';
    this._error = err;
    this.rejectDone(err);
  }
}

/** Unconfirmed sends in the order they were made. */
export class Outbox {
  private items = new Map<string, OutgoingMessage>();

  /** `settled` sees every send that leaves the outbox (confirmed or failed): storage forgets it. */
  constructor(private readonly settled?: (m: OutgoingMessage) => void) {}

  add(m: OutgoingMessage): void {
    this.items.set(m.client_id, m);
  }
  /** Sends restored from storage (made before a reload): they go ahead of any made since. */
  restore(ms: OutgoingMessage[]): void {
    const next = new Map<string, OutgoingMessage>();
    for (const m of ms) if (!this.items.has(m.client_id)) next.set(m.client_id, m);
    for (const [id, m] of this.items) next.set(id, m);
    this.items = next;
  }
  get(clientId: string): OutgoingMessage | undefined {
    return this.items.get(clientId);
  }
  list(conversation?: string): OutgoingMessage[] {
    const all = [...this.items.values()];
    return conversation === undefined ? all : all.filter((m) => m.conversation === conversation);
  }
  confirm(clientId: string, result: SentMessage): OutgoingMessage | undefined {
    const m = this.items.get(clientId);
    if (!m) return undefined;
    this.items.delete(clientId);
    m._confirm(result);
    this.settled?.(m);
    return m;
  }
  fail(clientId: string, err: HeraldClientError): OutgoingMessage | undefined {
    const m = this.items.get(clientId);
    if (!m) return undefined;
    this.items.delete(clientId);
    m._fail(err);
    this.settled?.(m);
    return m;
  }
  /**
   * Fails every unconfirmed send. With `forget: false` (disconnect: this instance stops waiting,
   * the server gave no verdict) `settled` is not told, so storage keeps them for the next connect.
   */
  failAll(err: HeraldClientError, forget = true): void {
    for (const [id, m] of [...this.items]) {
      this.items.delete(id);
      m._fail(err);
      if (forget) this.settled?.(m);
    }
  }
  requeueAll(): void {
    for (const m of this.items.values()) m._requeue();
  }
}
