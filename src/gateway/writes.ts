// The write frames (send, read, delivered): the same domain commands as HTTP, with the
// per-user send limit HTTP uses, checked before anything is read or written — more sockets
// do not mean more sends.
import { commandFor, execute } from '../domain/commands.ts';
import { markDelivered } from '../domain/delivery-marker.ts';
import { markRead } from '../domain/read-marker.ts';
import { newTraceparent } from '../tracing/context.ts';
import type { FrameContext, FrameOf } from './frame-context.ts';

/** Routes a `send` by conversation kind to the domain command (commandFor, as HTTP), then acks it. */
export async function sendFrame(s: FrameContext, f: FrameOf<'send'>): Promise<void> {
  const { core } = s;
  await core.opts.sendLimiter.take(s.tenant, s.user);
  // The frame is the protocol's message input plus where it goes (one schema, both transports).
  const { type: _frame, conversation: _to, ...input } = f;
  const kind = await core.kindOf(s.tenant, f.conversation, s.user);
  // A `send` frame starts its own trace (WebSocket frames carry no headers).
  const cmd = commandFor(kind, s.user, f.conversation, input);
  const { message } = await execute(core.opts.deps, s.tenant, cmd, newTraceparent());
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
  await markRead(s.core.opts.deps, s.tenant, s.user, f.conversation, f.seq);
}

/** A coalesced ack of what the client applied: one statement, a write only when it moves. */
export async function deliveredFrame(s: FrameContext, f: FrameOf<'delivered'>): Promise<void> {
  await markDelivered(s.core.opts.deps, s.tenant, s.user, f.conversation, f.seq);
}
