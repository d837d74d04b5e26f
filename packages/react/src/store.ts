// One HeraldStore per <HeraldProvider>: while the provider is mounted it
// listens to the client and keeps a version per topic (the connection, the
// inbox, the notices, and each conversation's timeline, typing and
// presence). Hooks read through useSyncExternalStore and recompute their
// snapshot only when their topic's version moved, so a snapshot keeps its
// identity between changes (React requires that). Children subscribe before
// the provider's effect starts the store, so start() bumps every topic once:
// whatever changed in between is seen. The store also shares conversations
// between components: the first user of a conversation opens it, the last
// one closes it.
import type {
  HeraldClient,
  HeraldClientError,
  OutgoingMessage,
  SendOptions,
  Subscription,
} from '@herald/client';

export type Topic =
  | 'connection'
  | 'inbox'
  | 'notices'
  | `conversation:${string}`
  | `typing:${string}`
  | `presence:${string}`;

interface Room {
  sub: Subscription;
  users: number;
  off: (() => void)[];
}

export class HeraldStore {
  private readonly versions = new Map<Topic, number>();
  private readonly listeners = new Map<Topic, Set<() => void>>();
  private readonly rooms = new Map<string, Room>();
  /** Sends made through the hooks, per conversation, until their message is in the timeline or they are dismissed. */
  private readonly sends = new Map<string, OutgoingMessage[]>();
  private readonly off: (() => void)[] = [];

  constructor(readonly client: HeraldClient) {}

  /** Listens to the client (the provider's effect); idempotent. */
  start(): void {
    if (this.off.length) return;
    const c = this.client;
    this.off.push(
      c.on('state', () => {
        this.bump('connection');
        // A new connection starts every room's presence over (the resubscribe brings a snapshot).
        for (const topic of this.versions.keys()) if (topic.startsWith('presence:')) this.bump(topic);
      }),
      c.on('welcome', () => this.bump('connection')),
      c.inbox.on('change', () => this.bump('inbox')),
      c.notices.on('change', () => this.bump('notices')),
      c.on('event', (e) => this.bump(`conversation:${e.conversation}`)),
      c.on('sent', (m) => this.bump(`conversation:${m.conversation}`)),
      c.on('error', (err: HeraldClientError) => {
        if (err.ref) this.bump(`conversation:${err.ref}`);
      }),
      c.on('typing', ({ conversation }) => this.bump(`typing:${conversation}`)),
      c.on('presence', ({ conversation }) => this.bump(`presence:${conversation ?? ''}`)),
    );
    for (const topic of [...this.listeners.keys()]) this.bump(topic);
  }

  version(topic: Topic): number {
    return this.versions.get(topic) ?? 0;
  }

  subscribe(topic: Topic, listener: () => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  bump(topic: Topic): void {
    this.versions.set(topic, this.version(topic) + 1);
    for (const l of [...(this.listeners.get(topic) ?? [])]) l();
  }

  /** Opens the conversation for one more user (the first opens it; `sinceSeq` only counts then). */
  acquire(conversation: string, sinceSeq?: number): Subscription {
    const room = this.rooms.get(conversation);
    if (room && room.sub.status !== 'closed') {
      room.users++;
      return room.sub;
    }
    for (const f of room?.off ?? []) f();
    const sub = this.client.open(conversation, sinceSeq === undefined ? {} : { sinceSeq });
    const topic = `conversation:${conversation}` as const;
    this.rooms.set(conversation, {
      sub,
      users: (room?.users ?? 0) + 1,
      off: [sub.on('subscribed', () => this.bump(topic)), sub.on('closed', () => this.bump(topic))],
    });
    this.bump(topic);
    return sub;
  }

  /** One user fewer; the last one closes the subscription. */
  release(conversation: string): void {
    const room = this.rooms.get(conversation);
    if (!room || --room.users > 0) return;
    this.rooms.delete(conversation);
    for (const f of room.off) f();
    room.sub.close();
  }

  subscription(conversation: string): Subscription | undefined {
    return this.rooms.get(conversation)?.sub;
  }

  /** An optimistic send: listed in `outgoing(conversation)` at once; the conversation re-renders as it settles. */
  send(conversation: string, body: string, opts?: SendOptions): OutgoingMessage {
    const out = this.client.send(conversation, body, opts);
    this.sends.set(conversation, [...(this.sends.get(conversation) ?? []), out]);
    const topic = `conversation:${conversation}` as const;
    this.bump(topic);
    // `sent`/`error` events bump too; settling covers a confirmation the events did not name.
    out.done.then(
      () => this.bump(topic),
      () => this.bump(topic),
    );
    return out;
  }

  /**
   * Sends not yet shown as a message: this provider's sends until their message is in the
   * timeline (a confirmed send whose event has not arrived still shows), failed ones until
   * dismissed, and the client's other unconfirmed sends (made before this provider, or elsewhere).
   */
  outgoing(conversation: string, inTimeline: (messageId: string) => boolean): OutgoingMessage[] {
    const mine = (this.sends.get(conversation) ?? []).filter(
      (o) => !(o.status === 'confirmed' && o.result && inTimeline(o.result.message_id)),
    );
    if (mine.length !== (this.sends.get(conversation)?.length ?? 0)) this.sends.set(conversation, mine);
    const ids = new Set(mine.map((o) => o.client_id));
    return [...mine, ...this.client.pending(conversation).filter((o) => !ids.has(o.client_id))];
  }

  /** Drops a failed (or any) send from `outgoing` — the app decided what to do with it. */
  dismiss(conversation: string, clientId: string): void {
    const list = this.sends.get(conversation);
    if (!list?.some((o) => o.client_id === clientId)) return;
    this.sends.set(
      conversation,
      list.filter((o) => o.client_id !== clientId),
    );
    this.bump(`conversation:${conversation}`);
  }

  /** Stops listening (the provider unmounts); conversations are released by the hooks that hold them. */
  stop(): void {
    for (const f of this.off.splice(0)) f();
  }
}
