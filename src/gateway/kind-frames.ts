// The kinds' action frames (`react`, `vote`: src/protocol/kinds/), the WebSocket side of
// runAction: the frame names the conversation and the message, the rest are the action's
// arguments. A change reaches the client as the kind's event on its subscription (like any
// event); a refusal is an `error` frame whose ref is the conversation. No reply otherwise.
import { runAction } from '../domain/kind-actions.ts';
import type { KindFrame, WireKindShape } from '../protocol/kinds/index.ts';
import { wireKinds } from '../protocol/kinds/index.ts';
import { newTraceparent } from '../tracing/context.ts';
import type { GatewayCore } from './core.ts';

const byFrame = new Map<string, { kind: string; action: string }>(
  (wireKinds as readonly WireKindShape[]).flatMap((w) =>
    Object.entries(w.actions).flatMap(([action, a]) =>
      a.frame ? [[a.frame, { kind: w.name, action }] as const] : [],
    ),
  ),
);

export async function handleKindFrame(
  core: GatewayCore,
  s: { tenant: string; user: string },
  frame: KindFrame,
): Promise<void> {
  const target = byFrame.get(frame.type);
  if (!target) return;
  await core.opts.sendLimiter.take(s.tenant, s.user);
  const { type: _type, conversation, message_id, ...args } = frame;
  await runAction(core.opts.deps, {
    tenant: s.tenant,
    user: s.user,
    conversation,
    messageId: message_id,
    ...target,
    args,
    traceId: newTraceparent(),
  });
}
