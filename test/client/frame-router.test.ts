// The frame router: a server frame goes to the handler of its type, and a type the table does not
// hold — one from a newer server, or a name every object inherits — reaches no handler.
import { describe, expect, it } from 'vitest';
import { type FrameHandlers, routeFrame } from '../../src/client/frame-router.ts';
import type { ServerFrame } from '../../src/protocol/frames.ts';

describe('routeFrame', () => {
  it('hands each frame to the handler of its type, and only to it', () => {
    const seen: string[] = [];
    const handlers: FrameHandlers<'pong' | 'degraded'> = {
      pong: () => seen.push('pong'),
      degraded: (f) => seen.push(`degraded:${f.reason}`),
    };
    expect(routeFrame(handlers, { type: 'degraded', reason: 'backpressure' })).toBe(true);
    expect(routeFrame(handlers, { type: 'pong' })).toBe(true);
    expect(seen).toEqual(['degraded:backpressure', 'pong']);
  });

  it('reports a type without a handler, including names inherited from Object', () => {
    const seen: string[] = [];
    const handlers: FrameHandlers<'pong'> = { pong: () => seen.push('pong') };
    for (const type of ['drain', 'from_the_future', 'constructor', 'toString', '__proto__', 'hasOwnProperty'])
      expect(routeFrame(handlers, { type } as unknown as ServerFrame)).toBe(false);
    expect(seen).toEqual([]);
  });
});
