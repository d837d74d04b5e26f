// Client frames to their handlers: one table entry per frame type. A new frame type is
// one line in ROUTES (its handler in its own module, taking a FrameContext); the mapped
// type makes a protocol frame without an entry a compile error.
import type { KindFrame } from '../protocol/kinds/index.ts';
import type { FrameContext, FrameOf, SessionFrame, SessionFrameType } from './frame-context.ts';
import { kindFrame, kindFrameTypes } from './kind-frames.ts';
import { deliveredFrame, readFrame, sendFrame } from './writes.ts';

interface Route<F extends SessionFrame> {
  run(s: FrameContext, f: F): Promise<void> | void;
  /** Frames with the same key run one after another, in arrival order; all others at once. */
  inOrder?(f: F): string;
}

/** One route per kind action frame (`react`, `vote`…), from the kinds' wire list. */
const KIND_ROUTES = Object.fromEntries(kindFrameTypes.map((t) => [t, { run: kindFrame }])) as {
  [T in KindFrame['type']]: Route<FrameOf<T>>;
};

const ROUTES: { [T in SessionFrameType]: Route<FrameOf<T>> } = {
  ...KIND_ROUTES,
  subscribe: { run: (s, f) => s.rooms.subscribe(f.conversation, f.since_seq) },
  unsubscribe: { run: (s, f) => s.rooms.unsubscribe(f.conversation, 'UNSUBSCRIBED') },
  // A send waits for the previous send of this connection to the same conversation: their
  // seqs follow frame order (they would otherwise race for the conversation's row lock on
  // different connections of the pool).
  send: { run: sendFrame, inOrder: (f) => f.conversation },
  read: { run: readFrame },
  // As `read`: no answer of its own; a moved marker reaches the user's devices as `thread`.
  thread_read: {
    run: async (s, f) => {
      await s.core.threads.read(s, f.conversation, f.root_id, f.seq);
    },
  },
  delivered: { run: deliveredFrame },
  view: { run: (s, f) => s.signals.view(f.conversation) },
  typing: { run: (s, f) => s.signals.typing(f.conversation) },
  heartbeat: { run: (s, f) => s.signals.heartbeat(f.status, f.resource) },
  ping: { run: (s) => s.send({ type: 'pong' }) },
};

/** What an error frame refers to: the frame's client_id (a send), else its conversation. */
function refOf(frame: SessionFrame): string | undefined {
  if ('client_id' in frame) return frame.client_id;
  return 'conversation' in frame ? (frame.conversation ?? undefined) : undefined;
}

/** One connection's frame dispatch; errors become `error` frames. */
export class FrameRouter {
  /** Per ordering key, the last frame of this connection: the next one waits for it (made on first use). */
  private queues: Map<string, Promise<void>> | null = null;

  constructor(private readonly s: FrameContext) {}

  handle(frame: SessionFrame): Promise<void> {
    const route = ROUTES[frame.type] as Route<SessionFrame>;
    if (!route.inOrder) return this.run(route, frame);
    const key = route.inOrder(frame);
    this.queues ??= new Map();
    const queues = this.queues;
    const run = (queues.get(key) ?? Promise.resolve())
      .then(() => this.run(route, frame))
      .catch((err) =>
        this.s.core.opts.log?.error({ err, connection: this.s.id }, `gateway ${frame.type} failed`),
      );
    queues.set(key, run);
    return run.finally(() => {
      if (queues.get(key) === run) queues.delete(key);
    });
  }

  private async run(route: Route<SessionFrame>, frame: SessionFrame): Promise<void> {
    try {
      await route.run(this.s, frame);
    } catch (err) {
      this.s.sendError(err, refOf(frame));
    }
  }
}
