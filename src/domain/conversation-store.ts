// Conversations and their membership as the domain writes them: a new conversation, members
// added and removed in bulk (each with their inbox entry, tombstone and `inbox` frame in the
// same statement), the pair's direct conversation. The domain decides who and whether — roles,
// kinds, caps, which users are unknown, what a lost race or a missing member means — and the
// store decides how. Implemented in src/store/pg/conversation-store.ts.
import type { ConversationKind, MemberRole } from '../protocol/index.ts';

export interface NewConversation {
  tenant: string;
  id: string;
  kind: ConversationKind;
  title: string | null;
  /** null: created by the system. */
  createdBy: string | null;
  audience: 'members' | 'tenant';
}

export interface ConversationStore {
  /** The users of `users` the tenant has (each once). */
  knownUsers(tenant: string, users: readonly string[]): Promise<string[]>;
  /** Creates a conversation without members; they are added with `addMembers`. */
  create(c: NewConversation): Promise<void>;
  /**
   * Adds the users not yet members with `role`, keeps member_count, clears their tombstones and
   * gives each an inbox entry read up to the current head (earlier history is not unread) and an
   * `inbox` frame; existing members are left as they are. One statement. Returns who was added.
   */
  addMembers(m: {
    tenant: string;
    conversation: string;
    users: readonly string[];
    role: MemberRole;
    largeThreshold: number;
    traceId?: string;
  }): Promise<string[]>;
  /**
   * Removes a member, keeps member_count, turns their inbox entry into a tombstone at the head
   * with a fresh version and sends it as an `inbox` frame `{removed: true}`. One statement.
   * false: the user was not a member.
   */
  removeMember(tenant: string, conversation: string, user: string, traceId?: string): Promise<boolean>;
  /**
   * Creates the pair's direct conversation under `key` (both members, an inbox entry each) unless
   * it exists, and returns its id. null: a concurrent first send created it after this
   * statement's snapshot was taken (`directByKey` in a new statement finds it).
   */
  openDirect(d: {
    tenant: string;
    id: string;
    key: string;
    createdBy: string;
    users: readonly [string, string];
  }): Promise<string | null>;
  /** The direct conversation of the pair `key`; null: none. */
  directByKey(tenant: string, key: string): Promise<string | null>;
  /**
   * Where `sender` already sent a message with `clientId`: its conversation and, for a direct
   * one, the pair's key (null otherwise). null: no such message.
   */
  sentWithClientId(
    tenant: string,
    sender: string,
    clientId: string,
  ): Promise<{ conversation: string; directKey: string | null } | null>;
}
