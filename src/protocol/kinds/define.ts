// The wire half of a kind: what crosses the wire, so server and SDK derive from the same
// list (src/protocol/kinds/index.ts). A kind may carry content in a message (`content`: the
// message input field, stored as the message's `data[field]`), keep state aggregated per
// message (`summary`: on the message in history and on the kind's events), and offer actions
// on a message (each an HTTP route under /v1/conversations/{id}/messages/{message_id}/ and,
// optionally, a WebSocket frame), each recorded as an event with its own seq.
// The server half (who may, what is written) is src/domain/kinds/<kind>.ts.
import type { Static, TObject, TSchema } from 'typebox';

export interface ActionRoute {
  method: 'POST' | 'DELETE';
  /** Below …/messages/{message_id}/; a `:name` segment carries the argument `name`. */
  path: string;
  /** Arguments the route implies (DELETE …/reactions/{emoji} is a react with remove). */
  fixed?: Readonly<Record<string, unknown>>;
  operationId: string;
  summary: string;
}

export interface WireAction {
  /** The action's arguments (an HTTP body or path, a frame's fields besides conversation and message_id). */
  args: TObject;
  http: readonly ActionRoute[];
  /** The client frame's `type`, when the action is offered over WebSocket too. */
  frame?: string;
}

export interface WireKindShape {
  name: string;
  content?: { field: string; schema: TSchema };
  summary: { field: string; schema: TSchema };
  actions: Readonly<Record<string, WireAction>>;
  /** The event types the kind's actions record. */
  events: readonly string[];
  /**
   * The summary after `event`, as `viewer` sees it: events carry the counts, not the
   * viewer's own part (a frame is shared by every subscriber), which this keeps from `prev`.
   */
  apply(prev: unknown, event: KindEventBase, viewer: string): unknown;
}

/** What every kind event carries besides its summary (`[summary.field]`). */
export interface KindEventBase {
  type: string;
  message_id: string;
  user_id: string;
  input: Record<string, unknown>;
  [summary: string]: unknown;
}

export function wireKind<const W extends WireKindShape>(w: W): W {
  return w;
}

// ---- types derived from a list of wire kinds -----------------------------------------------

type Summary<W> = W extends { summary: { schema: infer S extends TSchema } } ? Static<S> : never;
type SummaryField<W> = W extends { summary: { field: infer F extends string } } ? F : never;
type ArgsOf<W> = W extends { actions: infer A }
  ? { [K in keyof A]: A[K] extends { args: infer S extends TSchema } ? Static<S> : never }[keyof A]
  : never;

/** The summaries a message may carry, one optional field per kind. */
export type SummariesOf<L extends WireKindShape> = { [W in L as SummaryField<W>]?: Summary<W> };

/** The content fields of a message input, one optional field per content kind. */
export type ContentOf<L extends WireKindShape> = {
  [W in L as W extends { content: { field: infer F extends string } } ? F : never]?: W extends {
    content: { schema: infer S extends TSchema };
  }
    ? Static<S>
    : never;
};

/** The events of the kinds, each with its kind's summary. */
export type EventsOf<L extends WireKindShape> = L extends infer W extends WireKindShape
  ? {
      type: W['events'][number];
      message_id: string;
      user_id: string;
      input: ArgsOf<W>;
    } & { [F in SummaryField<W>]: Summary<W> }
  : never;

/** Every (kind, action) pair. */
export type ActionsOf<L extends WireKindShape> = L extends infer W extends WireKindShape
  ? {
      [A in keyof W['actions'] & string]: { kind: W['name']; action: A; def: W['actions'][A] };
    }[keyof W['actions'] & string]
  : never;

/** The client frames of the actions that have one. */
export type FramesOf<L extends WireKindShape> =
  ActionsOf<L> extends infer E
    ? E extends { def: { frame: infer F extends string; args: infer S extends TSchema } }
      ? { type: F; conversation: string; message_id: string } & Static<S>
      : never
    : never;
