// One bus subscription per topic per node, ref-counted over local
// listeners (sockets, SSE streams). A payload from the bus is parsed once per
// topic — to learn its type, seq and priority — and the same string (and the
// same UTF-8 buffer) is handed to every local listener: never re-serialized
// per socket.
import type { Bus } from '../bus/port.ts';
import type { Priority } from './metrics.ts';

export interface TopicFrame {
  /** The serialized frame, exactly as published. */
  readonly text: string;
  /** UTF-8 bytes of `text`, encoded once for every socket. */
  readonly buf: Buffer;
  readonly type: string;
  readonly conversation: string | null;
  /** Event frames: the seq. */
  readonly seq: number | null;
  /** Typing / receipt / presence: the user it is about. */
  readonly userId: string | null;
  /** Event frames announcing that users left (system `left` message). */
  readonly left: readonly string[] | null;
  readonly priority: Priority;
}

type Json = Record<string, unknown>;

export function priorityOf(type: string): Priority {
  switch (type) {
    case 'typing':
      return 'typing';
    case 'presence':
      return 'presence';
    case 'receipt':
      return 'receipt';
    case 'inbox':
    case 'notice':
      return 'inbox';
    default:
      return 'message';
  }
}

function leftUsers(frame: Json): string[] | null {
  const event = frame.event as Json | undefined;
  if (event?.type !== 'message.created') return null;
  const message = event.message as Json | undefined;
  const data = message?.data as Json | null | undefined;
  if (message?.kind !== 'system' || !data || data.event !== 'left' || !Array.isArray(data.user_ids))
    return null;
  return data.user_ids.filter((u): u is string => typeof u === 'string');
}

/** Builds a TopicFrame from a serialized frame; null when it is not a JSON object with a type. */
export function topicFrame(text: string, parsed?: Json): TopicFrame | null {
  let f: Json;
  try {
    f = parsed ?? (JSON.parse(text) as Json);
  } catch {
    return null;
  }
  if (typeof f !== 'object' || f === null || typeof f.type !== 'string') return null;
  const type = f.type;
  let buf: Buffer | undefined;
  return {
    text,
    get buf() {
      if (!buf) buf = Buffer.from(text, 'utf8');
      return buf;
    },
    type,
    conversation: typeof f.conversation === 'string' ? f.conversation : null,
    seq: type === 'event' && typeof f.seq === 'number' ? f.seq : null,
    userId: typeof f.user_id === 'string' ? f.user_id : null,
    left: type === 'event' ? leftUsers(f) : null,
    priority: priorityOf(type),
  };
}

/**
 * A TopicFrame for an `event` frame read from the store (replay, resync), so it goes
 * through the same checks as a live one. Only a system `left` message can end a
 * subscription, so only frames that may be one are parsed.
 */
export function storedEventFrame(conversation: string, seq: number, text: string): TopicFrame {
  const left = text.includes('"left"') ? (topicFrame(text)?.left ?? null) : null;
  let buf: Buffer | undefined;
  return {
    text,
    get buf() {
      if (!buf) buf = Buffer.from(text, 'utf8');
      return buf;
    },
    type: 'event',
    conversation,
    seq,
    userId: null,
    left,
    priority: 'message',
  };
}

export type TopicListener = (frame: TopicFrame) => void;

interface Entry {
  listeners: Set<TopicListener>;
  /** Resolves once the bus subscription is live: callers await it before replaying. */
  ready: Promise<void>;
  unsubscribe: (() => Promise<void>) | null;
  closed: boolean;
}

export class TopicHub {
  private readonly topics = new Map<string, Entry>();

  constructor(
    private readonly bus: Bus,
    private readonly onError: (err: unknown, topic: string) => void = () => {},
  ) {}

  /** Number of topics this node is subscribed to (tests assert ref-counting). */
  get size(): number {
    return this.topics.size;
  }

  listenerCount(topic: string): number {
    return this.topics.get(topic)?.listeners.size ?? 0;
  }

  /**
   * Adds a listener; resolves once the node's bus subscription for the topic is
   * live. Returns the function removing the listener (the last one unsubscribes).
   */
  async add(topic: string, listener: TopicListener): Promise<() => void> {
    let entry = this.topics.get(topic);
    if (!entry) {
      const e: Entry = { listeners: new Set(), ready: Promise.resolve(), unsubscribe: null, closed: false };
      e.ready = this.bus
        .subscribe(topic, (payload) => this.dispatch(e, payload, topic))
        .then((unsub) => {
          if (e.closed) void unsub().catch((err) => this.onError(err, topic));
          else e.unsubscribe = unsub;
        });
      this.topics.set(topic, e);
      entry = e;
    }
    entry.listeners.add(listener);
    const e = entry;
    try {
      await e.ready;
    } catch (err) {
      this.remove(topic, e, listener);
      throw err;
    }
    return () => this.remove(topic, e, listener);
  }

  private remove(topic: string, e: Entry, listener: TopicListener): void {
    if (!e.listeners.delete(listener) || e.listeners.size > 0 || e.closed) return;
    e.closed = true;
    if (this.topics.get(topic) === e) this.topics.delete(topic);
    const unsub = e.unsubscribe;
    e.unsubscribe = null;
    if (unsub) void unsub().catch((err) => this.onError(err, topic));
  }

  private dispatch(e: Entry, payload: string, topic: string): void {
    if (e.closed || e.listeners.size === 0) return;
    const frame = topicFrame(payload);
    if (!frame) {
      this.onError(new Error('unparseable bus payload'), topic);
      return;
    }
    for (const l of e.listeners) {
      try {
        l(frame);
      } catch (err) {
        this.onError(err, topic);
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.topics.values()];
    this.topics.clear();
    await Promise.all(
      all.map(async (e) => {
        e.closed = true;
        e.listeners.clear();
        await e.ready.catch(() => {});
        await e.unsubscribe?.();
      }),
    );
  }
}
