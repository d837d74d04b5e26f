// The kinds' action frames (`react`, `vote`: src/protocol/kinds/), the WebSocket side of
// runAction: the frame names the conversation and the message, the rest are the action's
// arguments. A change reaches the client as the kind's event on its subscription (like any
// event); a refusal is an `error` frame whose ref is the conversation. No reply otherwise.
import type { KindFrame, WireKindShape } from '../protocol/kinds/index.ts';
import { wireKinds } from '../protocol/kinds/index.ts';
import { newTraceparent } from '../tracing/context.ts';
import type { FrameContext } from './frame-context.ts';

const byFrame = new Map<string, { kind: string; action: string }>(
  (wireKinds as readonly WireKindShape[]).flatMap((w) =>
    Object.entries(w.actions).flatMap(([action, a]) =>
      a.frame ? [[a.frame, { kind: w.name, action }] as const] : [],
    ),
  ),
);

/** The frame types of the kinds' actions (each a route of the frame router). */
export const kindFrameTypes = [...byFrame.keys()] as KindFrame['type'][];

export async function kindFrame(s: FrameContext, frame: KindFrame): Promise<void> {
  const target = byFrame.get(frame.type);
  if (!target) return;
  const { type: _type, conversation, message_id, ...args } = frame;
  // Like `send`, an action frame starts its own trace.
  const caller = { tenant: s.tenant, user: s.user, trace: newTraceparent() };
  await s.core.messaging.act(caller, { conversation, messageId: message_id, ...target, args });
}
