// Parsing and validation of client frames. A frame is valid JSON with a known `type` and
// the shape of its schema (src/protocol/schema.ts: the one definition the frame types come
// from); anything else gets a typed error with the same readable words HTTP uses.
// Every string of a frame (and every key, at any depth) follows the shared text rule of
// src/protocol/input.ts, as HTTP requests do.
import { type ClientFrame, type ErrorCode, findInputProblem, unsafeText } from '../protocol/index.ts';
import { compileCheck, type Issue, issuesMessage } from '../protocol/issues.ts';
import { type ClientFrameType, clientFrameSchemas, kindFrameSchemas } from '../protocol/schema.ts';

export type Parsed =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; ref?: string; fatal: boolean };

type Obj = Record<string, unknown>;

const checks = Object.fromEntries(
  Object.entries({ ...clientFrameSchemas, ...kindFrameSchemas }).map(([type, schema]) => [
    type,
    compileCheck(schema),
  ]),
) as Record<ClientFrameType, (value: unknown) => Issue[] | null>;

const isFrameType = (t: string): t is ClientFrameType => Object.hasOwn(checks, t);

// A refused id is still echoed as the error's `ref` (a client matches the error to its send
// by it, even when the id itself is what is wrong), within reason.
const MAX_REF = 1024;

/** An id worth echoing as an error's `ref`: a string, not absurdly long, safe text. */
const refOf = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_REF && !unsafeText(v) ? v : undefined;

function bad(message: string, ref?: string): Parsed {
  return { ok: false, code: 'VALIDATION_FAILED', message, ref, fatal: false };
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
  const ref = refOf(o.type === 'send' ? o.client_id : o.conversation);
  const problem = findInputProblem(o);
  if (problem) return bad(`${problem.path.slice(1) || 'frame'} ${problem.message}.`, ref);
  if (!isFrameType(o.type)) {
    return {
      ok: false,
      code: 'UNKNOWN_FRAME',
      message: `Unknown frame type "${o.type.slice(0, 40)}".`,
      fatal: false,
    };
  }
  const issues = checks[o.type](o);
  if (issues) return bad(`${issuesMessage(issues, o.type)}.`, ref);
  // The check proved the shape: the object is the frame.
  return { ok: true, frame: o as ClientFrame };
}
