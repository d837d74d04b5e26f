// The slot every conversation kind fills: one descriptor per command. The command union, the
// handler table, the routing of a user's send (commandFor) and its exhaustiveness check are
// all derived from the list of descriptors in commands.ts; nothing else names a kind.
// Content kinds (what a message carries: text, a poll, …) are the other axis: see
// content-kinds.ts. A poll in a group is a GroupMessage whose input carries `poll`.
import type { ConversationKind } from '../../protocol/index.ts';
import type { SendRequest } from '../compose.ts';
import type { ComposeContext, DomainDeps, MessageInput } from '../context.ts';

export interface KindDescriptor<C extends { kind: string }, R, K extends readonly ConversationKind[]> {
  /** The command's name: its `kind` tag. */
  command: C['kind'];
  /** The conversation kinds a user's send routes to this command ([] for system commands). */
  conversationKinds: K;
  /** The command inside a caller's transaction. */
  handle: (ctx: ComposeContext, cmd: C) => Promise<R>;
  /** A user's send to a conversation of one of `conversationKinds` as this command. */
  fromUser?: (sender: string, conversation: string, input: MessageInput) => C;
  /** User sends on their own go through the store's group commit (send-batcher.ts): what to send. */
  send?: (deps: DomainDeps, tenant: string, cmd: C) => SendRequest | Promise<SendRequest>;
}

/** A descriptor, kept as written (its command, result and conversation kinds as literals). */
export function defineKind<C extends { kind: string }, R>() {
  return <const D extends KindDescriptor<C, R, readonly ConversationKind[]>>(d: D): D => d;
}

// biome-ignore lint/suspicious/noExplicitAny: matches any descriptor in the type helpers below.
export type AnyKind = KindDescriptor<any, any, readonly ConversationKind[]>;
export type CommandOf<D> = D extends { handle: (ctx: never, cmd: infer C) => unknown } ? C : never;
export type ResultOfKind<D> = D extends { handle: (ctx: never, cmd: never) => Promise<infer R> } ? R : never;
/** The conversation kinds routed by the descriptors that take user sends. */
export type RoutedKinds<D> = D extends { conversationKinds: readonly (infer K)[]; fromUser: unknown }
  ? K
  : never;
