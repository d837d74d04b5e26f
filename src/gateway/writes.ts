// The write frames (send, read, delivered): parse → the use case HTTP calls too
// (usecases/messaging.ts: the shared send budget, kind routing, access, transaction) → ack.
import { newTraceparent } from '../tracing/context.ts';
import type { FrameContext, FrameOf } from './frame-context.ts';

/** A `send`: the message input of the frame, through the send use case, then its ack. */
export async function sendFrame(s: FrameContext, f: FrameOf<'send'>): Promise<void> {
  // The frame is the protocol's message input plus where it goes (one schema, both transports).
  const { type: _frame, conversation: _to, ...input } = f;
  // A `send` frame starts its own trace (WebSocket frames carry no headers).
  const caller = { tenant: s.tenant, user: s.user, trace: newTraceparent() };
  const { message } = await s.core.messaging.send(caller, f.conversation, input);
  s.signals.typingEnded(f.conversation);
  s.send({
    type: 'ack',
    client_id: f.client_id,
    conversation: f.conversation,
    seq: message.seq,
    message_id: message.id,
  });
}

export async function readFrame(s: FrameContext, f: FrameOf<'read'>): Promise<void> {
  await s.core.messaging.read(s, f.conversation, f.seq);
}

/** A coalesced ack of what the client applied: one statement, a write only when it moves. */
export async function deliveredFrame(s: FrameContext, f: FrameOf<'delivered'>): Promise<void> {
  await s.core.messaging.delivered(s, f.conversation, f.seq);
}
