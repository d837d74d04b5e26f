// Server frames are dispatched by type through a handler table. The table's
// type has one required entry per frame type it covers, so a frame type added
// to the protocol is a compile error until something handles it; a type this
// SDK version does not know at run time is ignored (forward compatible).
import type { ServerFrame } from '../protocol/frames.ts';

export type FrameType = ServerFrame['type'];

/** One handler per frame type in `T`, each given its own frame shape. */
export type FrameHandlers<T extends FrameType> = {
  [K in T]: (frame: Extract<ServerFrame, { type: K }>) => void;
};

/** Hands the frame to its handler; false when the table has none for its type. */
export function routeFrame<T extends FrameType>(handlers: FrameHandlers<T>, frame: ServerFrame): boolean {
  if (!Object.hasOwn(handlers, frame.type)) return false;
  const handle = handlers[frame.type as T] as (f: ServerFrame) => void;
  handle(frame);
  return true;
}
