// Parsing and validation of client frames. A frame is valid JSON with a
// known `type` and well-typed fields; anything else gets a typed error.
// Every string of a frame (and every key, at any depth) follows the shared
// text rule of src/protocol/input.ts, as HTTP requests do.
import {
  type Attachment,
  type ClientFrame,
  type ErrorCode,
  findInputProblem,
  isSeq,
  MAX_SEQ,
  type PresenceStatus,
  unsafeText,
} from '../protocol/index.ts';

export type Parsed =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; ref?: string; fatal: boolean };

const STATUSES: readonly PresenceStatus[] = ['active', 'idle', 'viewing', 'away'];
const MAX_ID = 200;

type Obj = Record<string, unknown>;

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID;
/** An id worth echoing as an error's `ref`: well-formed and storable. */
const refOf = (v: unknown): string | undefined => (isId(v) && !unsafeText(v) ? v : undefined);

function bad(message: string, ref?: string): Parsed {
  return { ok: false, code: 'VALIDATION_FAILED', message, ref, fatal: false };
}

function attachments(v: unknown): Attachment[] | null {
  if (!Array.isArray(v)) return null;
  for (const a of v) {
    if (typeof a !== 'object' || a === null) return null;
    const o = a as Obj;
    if (typeof o.name !== 'string' || typeof o.mime_type !== 'string' || typeof o.url !== 'string')
      return null;
    if (typeof o.size !== 'number') return null;
  }
  return v.map((a: Obj) => ({
    name: a.name as string,
    mime_type: a.mime_type as string,
    size: a.size as number,
    url: a.url as string,
  }));
}

export function parseClientFrame(text: string): Parsed {
  let o: Obj;
  try {
    o = JSON.parse(text) as Obj;
  } catch {
    return { ok: false, code: 'BAD_REQUEST', message: 'Frames must be JSON objects.', fatal: true };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.type !== 'string') {
    return {
      ok: false,
      code: 'BAD_REQUEST',
      message: 'Frames must be JSON objects with a type.',
      fatal: true,
    };
  }
  const problem = findInputProblem(o);
  if (problem) {
    return bad(
      `${problem.path.slice(1) || 'frame'} ${problem.message}.`,
      refOf(o.type === 'send' ? o.client_id : o.conversation),
    );
  }
  switch (o.type) {
    case 'auth':
      return typeof o.token === 'string' && o.token.length > 0
        ? { ok: true, frame: { type: 'auth', token: o.token } }
        : bad('auth needs a token.');
    case 'subscribe':
      if (!isId(o.conversation)) return bad('subscribe needs a conversation.');
      if (o.since_seq !== undefined && o.since_seq !== null && !isSeq(o.since_seq)) {
        return bad(`since_seq must be an integer from 0 to ${MAX_SEQ}.`, o.conversation);
      }
      return {
        ok: true,
        frame: {
          type: 'subscribe',
          conversation: o.conversation,
          since_seq: isSeq(o.since_seq) ? o.since_seq : undefined,
        },
      };
    case 'unsubscribe':
      return isId(o.conversation)
        ? { ok: true, frame: { type: 'unsubscribe', conversation: o.conversation } }
        : bad('unsubscribe needs a conversation.');
    case 'send': {
      // Only the frame's shape is checked here: the message-input rules (lengths, URL
      // schemes, sizes, caps) are the domain's validateInput, the same for HTTP.
      const ref = typeof o.client_id === 'string' ? o.client_id : undefined;
      if (!isId(o.client_id)) return bad('send needs a client_id.');
      if (!isId(o.conversation)) return bad('send needs a conversation.', ref);
      if (typeof o.body !== 'string') return bad('body must be a string.', ref);
      if (o.reply_to != null && !isId(o.reply_to)) return bad('reply_to must be a message id.', ref);
      if (o.mentions != null && (!Array.isArray(o.mentions) || !o.mentions.every(isId))) {
        return bad('mentions must be user ids.', ref);
      }
      let atts: Attachment[] | undefined;
      if (o.attachments != null) {
        const a = attachments(o.attachments);
        if (!a) return bad('attachments must be {name, mime_type, size, url} objects.', ref);
        atts = a;
      }
      return {
        ok: true,
        frame: {
          type: 'send',
          conversation: o.conversation,
          client_id: o.client_id,
          body: o.body,
          reply_to: (o.reply_to as string | undefined) ?? undefined,
          mentions: (o.mentions as string[] | undefined) ?? undefined,
          attachments: atts,
        },
      };
    }
    case 'read':
      if (!isId(o.conversation) || !isSeq(o.seq))
        return bad(
          `read needs a conversation and a seq (an integer from 0 to ${MAX_SEQ}).`,
          refOf(o.conversation),
        );
      return { ok: true, frame: { type: 'read', conversation: o.conversation, seq: o.seq } };
    case 'delivered':
      if (!isId(o.conversation) || !isSeq(o.seq))
        return bad(
          `delivered needs a conversation and a seq (an integer from 0 to ${MAX_SEQ}).`,
          refOf(o.conversation),
        );
      return { ok: true, frame: { type: 'delivered', conversation: o.conversation, seq: o.seq } };
    case 'view':
      if (o.conversation !== null && !isId(o.conversation)) return bad('view needs a conversation or null.');
      return { ok: true, frame: { type: 'view', conversation: o.conversation } };
    case 'typing':
      return isId(o.conversation)
        ? { ok: true, frame: { type: 'typing', conversation: o.conversation } }
        : bad('typing needs a conversation.');
    case 'heartbeat': {
      if (o.status !== undefined && !STATUSES.includes(o.status as PresenceStatus)) {
        return bad(`status must be one of ${STATUSES.join(', ')}.`);
      }
      if (o.resource !== undefined && (typeof o.resource !== 'string' || o.resource.length > 100)) {
        return bad('resource must be a short string.');
      }
      return {
        ok: true,
        frame: {
          type: 'heartbeat',
          status: o.status as PresenceStatus | undefined,
          resource: o.resource as string | undefined,
        },
      };
    }
    case 'ping':
      return { ok: true, frame: { type: 'ping' } };
    default:
      return {
        ok: false,
        code: 'UNKNOWN_FRAME',
        message: `Unknown frame type "${String(o.type).slice(0, 40)}".`,
        fatal: false,
      };
  }
}
