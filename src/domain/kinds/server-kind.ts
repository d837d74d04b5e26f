// The server half of a kind with a wire half (src/protocol/kinds/define.ts): where its content
// may be sent, which messages its actions apply to, how its per-message summary is read, and
// what each action writes. The generic part (locking, access, the seq'd event, the routes and
// frames) is src/domain/kind-actions.ts; a kind writes only its own rows.
//
// A kind declares the store it needs (`Store`: its rows, in its words) and decides on what that
// store returns; the store's PostgreSQL half is src/store/pg/kinds/<kind>.ts, listed in
// src/store/pg/kinds/index.ts. The kind gets it bound to the action's transaction (or to the
// history read's connection), so a kind holds no SQL.
import type { Static, TSchema } from 'typebox';
import type { ConversationKind, Message } from '../../protocol/index.ts';
import type { WireKindShape } from '../../protocol/kinds/index.ts';
import type { Limits } from '../limits.ts';
import type { ConversationRow } from '../message-log.ts';

type Content<W> = W extends { content: { schema: infer S extends TSchema } } ? Static<S> : never;
type Summary<W> = W extends { summary: { schema: infer S extends TSchema } } ? Static<S> : never;

export interface ActionCall<Args, Store> {
  /** The kind's store, bound to the action's transaction (the conversation row is locked). */
  store: Store;
  tenant: string;
  user: string;
  conversation: ConversationRow;
  message: Message;
  args: Args;
}

export interface ServerKind<W extends WireKindShape, Store> {
  wire: W;
  /** Content kinds: where a message carrying it may be sent, and the checks beyond its schema. */
  content?: {
    conversationKinds: readonly ConversationKind[];
    /** The body when the sender wrote none. */
    bodyOf?: (content: Content<W>) => string;
    /** Throws a typed error for content the schema cannot refuse (duplicate options). */
    check?: (content: Content<W>, limits: Limits) => void;
  };
  /** The messages the actions apply to (a vote needs a poll). */
  appliesTo?: (m: Message) => boolean;
  /** The summary of a message with nothing to summarize (no reactions yet). */
  none: Summary<W>;
  /**
   * The summaries of these messages as `viewer` sees them (null: no viewer's part), from one
   * read of the kind's store (one statement); a message with nothing to summarize is left out.
   */
  summaries: (
    store: Store,
    tenant: string,
    ids: readonly string[],
    viewer: string | null,
  ) => Promise<Map<string, Summary<W>>>;
  /**
   * Each action: writes the kind's rows and returns the event type to record, or null when
   * nothing changed (an idempotent repeat records no event). Runs with the conversation locked.
   */
  actions: {
    [A in keyof W['actions']]: (
      call: ActionCall<W['actions'][A] extends { args: infer S extends TSchema } ? Static<S> : never, Store>,
    ) => Promise<W['events'][number] | null>;
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the list holds kinds of every wire shape and store.
export type AnyServerKind = ServerKind<any, any>;

/** The store a kind declared (`serverKind<Store>()`). */
export type StoreOf<K> = K extends { summaries: (store: infer S, ...rest: never[]) => unknown } ? S : never;

/** `serverKind<TheKindsStore>()(wire, { … })`: the store is named, the wire shape inferred. */
export function serverKind<Store>() {
  return <const W extends WireKindShape>(
    wire: W,
    rest: Omit<ServerKind<W, Store>, 'wire'>,
  ): ServerKind<W, Store> => ({
    wire,
    ...rest,
  });
}
