// One bus subscription per topic per node, ref-counted over local
// listeners (sockets, SSE streams). A payload from the bus is parsed once per
// topic — to learn its type, seq, priority and what backpressure coalesces by —
// and becomes one TopicFrame handed to every local listener. Its bytes are
// rendered once per transport (a complete WebSocket frame, an SSE `data:`
// message) and the same buffer is written to every connection: never
// re-serialized or re-framed per socket.
import type { Bus } from '../bus/port.ts';
import type { PresenceEntry } from '../protocol/index.ts';
import { META_KEY } from '../relay/stamp.ts';
import { traceIdOf } from '../tracing/context.ts';
import { leanEventText } from './lean-event.ts';
import type { Priority } from './metrics.ts';
import { sseData, wsTextFrame } from './writer.ts';

type Json = Record<string, unknown>;

export class TopicFrame {
  private utf8: Buffer | null = null;
  private ws: Buffer | null = null;
  private sse: Buffer | null = null;

  /** Frames from the outbox relay: the trace they carry and when they were published. */
  meta: FrameMeta | null = null;

  /** `message.created` event frames: the message as the hub parsed it (a large channel's preview). */
  created: Json | null = null;

  /** `inbox` frames: whose entry, of what kind, and whether it is a tombstone (inbox-hints.ts). */
  inbox: InboxHead | null = null;

  constructor(
    /** The serialized frame sent to clients (events in their lean form). */
    readonly text: string,
    readonly type: string,
    readonly conversation: string | null,
    /** Event frames: the event's seq; receipts: the seq read up to. */
    readonly seq: number | null,
    /** Typing / receipt / presence: the user it is about. */
    readonly userId: string | null,
    /** Event frames announcing that users left (system `left` message). */
    readonly left: readonly string[] | null,
    /** Presence frames: the entries (coalesced per device under backpressure). */
    readonly entries: readonly PresenceEntry[] | null,
    readonly priority: Priority,
  ) {}

  /** UTF-8 bytes of `text`, encoded once for every connection. */
  get buf(): Buffer {
    this.utf8 ??= Buffer.from(this.text, 'utf8');
    return this.utf8;
  }

  /** The whole WebSocket text frame (header + payload), built once for every socket. */
  get wsFrame(): Buffer {
    this.ws ??= wsTextFrame(this.text, this.buf.length);
    return this.ws;
  }

  /** `data: …\n\n`, built once for every SSE stream (the per-stream `id:` line goes before it). */
  get sseData(): Buffer {
    this.sse ??= sseData(this.text);
    return this.sse;
  }
}

export function priorityOf(type: string): Priority {
  switch (type) {
    case 'typing':
      return 'typing';
    case 'presence':
      return 'presence';
    case 'receipt':
    // Derived and repaired by the next hint or inbox sync: coalesced like receipts (outbound.ts).
    case 'inbox_hint':
      return 'receipt';
    case 'inbox':
    case 'notice':
    case 'thread':
      return 'inbox';
    default:
      return 'message';
  }
}

function leftUsers(event: Json | undefined): string[] | null {
  if (event?.type !== 'message.created') return null;
  const message = event.message as Json | undefined;
  const data = message?.data as Json | null | undefined;
  if (message?.kind !== 'system' || !data || data.event !== 'left' || !Array.isArray(data.user_ids))
    return null;
  return data.user_ids.filter((u): u is string => typeof u === 'string');
}

const str = (v: unknown) => (typeof v === 'string' ? v : null);
const num = (v: unknown) => (typeof v === 'number' ? v : null);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Builds a TopicFrame from a serialized frame (the one parse of a bus payload); null when
 * it is not a JSON object with a type. An `event` frame is re-serialized in its lean form.
 */
export function topicFrame(text: string): TopicFrame | null {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(f) || typeof f.type !== 'string') return null;
  const type = f.type;
  const conversation = str(f.conversation);
  const meta = relayMeta(f._meta);
  if (type === 'event') {
    const seq = num(f.seq);
    const event = isObject(f.event) ? f.event : undefined;
    const lean =
      conversation !== null && seq !== null && event
        ? leanEventText(conversation, seq, event, meta?.trace)
        : text;
    const frame = new TopicFrame(lean, type, conversation, seq, null, leftUsers(event), null, 'message');
    frame.meta = meta;
    if (event?.type === 'message.created' && isObject(event.message)) frame.created = event.message;
    return frame;
  }
  const frame = new TopicFrame(
    meta ? withoutMeta(text, meta) : text,
    type,
    conversation,
    type === 'receipt' ? num(f.seq) : null,
    str(f.user_id),
    null,
    type === 'presence' && Array.isArray(f.entries) ? (f.entries as PresenceEntry[]) : null,
    priorityOf(type),
  );
  frame.meta = meta;
  if (type === 'inbox' && isObject(f.entry)) frame.inbox = inboxHead(f.entry);
  return frame;
}

export interface InboxHead {
  conversation: string;
  kind: string;
  removed: boolean;
}

function inboxHead(entry: Json): InboxHead | null {
  const conversation = str(entry.conversation_id);
  const kind = str(entry.kind);
  return conversation === null || kind === null
    ? null
    : { conversation, kind, removed: entry.removed === true };
}

export interface FrameMeta {
  /** The trace id clients see as the frame's `trace`. */
  trace: string | null;
  /** The relay's span (or the writer's) as a traceparent: the parent of the delivery span. */
  traceparent: string | null;
  /** When the relay published it (ms since the epoch). */
  publishedAt: number;
}

function relayMeta(m: unknown): FrameMeta | null {
  if (!isObject(m) || typeof m.pub !== 'number') return null;
  const tp = str(m.tp);
  // The relay writes traceparents (55 characters: the id is 3..35); anything else is an opaque id.
  const trace = tp === null ? null : tp.length === 55 && tp[2] === '-' ? tp.slice(3, 35) : traceIdOf(tp);
  return { trace, traceparent: tp, publishedAt: m.pub };
}

/** The relay's `_meta` off the end of the payload (src/relay/stamp.ts put it last); `trace` on. */
function withoutMeta(text: string, meta: FrameMeta): string {
  const at = text.lastIndexOf(META_KEY);
  if (at < 0) return text;
  return meta.trace === null
    ? `${text.slice(0, at)}}`
    : `${text.slice(0, at)}, "trace": ${JSON.stringify(meta.trace)}}`;
}

/**
 * A TopicFrame for an `event` frame read from the store (replay, resync), so it goes
 * through the same checks, and the same lean form, as a live one.
 */
export function storedEventFrame(conversation: string, seq: number, text: string): TopicFrame {
  const f = topicFrame(text);
  if (f?.type === 'event') return f;
  return new TopicFrame(text, 'event', conversation, seq, null, null, null, 'message');
}

/**
 * A topic's listener: a function, or an object whose topicFrame() is called — what a
 * connection's parts listen with, so that no closure is made per connection.
 */
export type TopicListener = ((frame: TopicFrame) => void) | FrameListener;

export interface FrameListener {
  topicFrame(frame: TopicFrame): void;
}

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
    /** Called after an `event` frame reached every listener (the gateway flushes its writers). */
    private readonly afterEvent: () => void = () => {},
    /** Called with every `presence` frame before its listeners (the core's snapshot cache). */
    private readonly onPresence: (frame: TopicFrame, topic: string) => void = () => {},
    /** Called after a frame from the relay reached `listeners` local listeners (metrics, traces). */
    private readonly onDelivered?: (frame: TopicFrame, topic: string, listeners: number) => void,
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
    await this.listen(topic, listener);
    return () => this.unlisten(topic, listener);
  }

  /**
   * add() without the function: the listener is added at once, and the promise resolves
   * once the topic is live. unlisten() removes it, also while this is pending.
   */
  async listen(topic: string, listener: TopicListener): Promise<void> {
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
  }

  /** Removes a listener (the last one unsubscribes); nothing if it is not listening. */
  unlisten(topic: string, listener: TopicListener): void {
    // A listener is only ever in the topic's current entry: an entry leaves the map when it closes.
    const e = this.topics.get(topic);
    if (e) this.remove(topic, e, listener);
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
    if (frame.type === 'presence') this.onPresence(frame, topic);
    for (const l of e.listeners) {
      try {
        if (typeof l === 'function') l(frame);
        else l.topicFrame(frame);
      } catch (err) {
        this.onError(err, topic);
      }
    }
    if (frame.type === 'event') this.afterEvent();
    if (frame.meta && this.onDelivered) this.onDelivered(frame, topic, e.listeners.size);
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
