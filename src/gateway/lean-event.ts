// The `event` frame as it goes to clients: the stored event without what the frame or the
// connection already says (the message's tenant_id, conversation_id and seq) and without
// defaults (null fields, empty lists). A group message event shrinks from ~550 to ~290
// bytes. Built once per topic frame on a node; the SDK restores the full Message
// (src/client/wire.ts). docs/protocol.md, "Server → client frames", lists the rule.

type Json = Record<string, unknown>;

function leanMessage(m: Json, conversation: string, seq: number): Json {
  const out: Json = {};
  for (const k in m) {
    const v = m[k];
    if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    // The connection is in one tenant; the frame names the conversation and the event's seq
    // (an edit's event seq is not its message's seq: then the message keeps its own).
    if (k === 'tenant_id' || (k === 'conversation_id' && v === conversation) || (k === 'seq' && v === seq))
      continue;
    out[k] = v;
  }
  return out;
}

/** The lean form of a ConversationEvent object (message.created / edited carry a message). */
export function leanEvent(event: Json, conversation: string, seq: number): Json {
  const message = event.message;
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return event;
  return { ...event, message: leanMessage(message as Json, conversation, seq) };
}

/** The serialized lean `event` frame; `trace`: the trace id of the write, when it had one. */
export function leanEventText(conversation: string, seq: number, event: Json, trace?: string | null): string {
  const lean = leanEvent(event, conversation, seq);
  return JSON.stringify(
    trace
      ? { type: 'event', conversation, seq, event: lean, trace }
      : { type: 'event', conversation, seq, event: lean },
  );
}
