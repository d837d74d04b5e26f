// Conversations and membership. Every membership change is also a
// SystemEvent in the conversation log, so live clients and catch-up see it.
// This module decides who may change what (roles, kinds, caps, unknown users);
// the rows are written through the ConversationStore (ctx.writes.conversations).

import { randomUUID } from 'node:crypto';
import { recordAudit } from '../audit/record.ts';
import { type Actor, type ConversationKind, HeraldError, type MemberRole } from '../protocol/index.ts';
import type { DomainDeps } from './commands.ts';
import { handlers } from './commands.ts';
import { type ComposeContext, composeContext, lockConversation } from './compose.ts';
import { getOrCreateDirect } from './kinds/direct.ts';

export interface CreateConversation {
  kind: Exclude<ConversationKind, 'direct' | 'notices'>;
  title: string | null;
  members: string[];
  /** Announcements only: 'tenant' reaches every user of the tenant. */
  audience?: 'members' | 'tenant';
}

function ctxOf(deps: DomainDeps, tenant: string, traceId?: string) {
  return (tx: ComposeContext['tx']): ComposeContext => composeContext(deps, tx, tenant, traceId);
}

export async function createConversation(
  deps: DomainDeps,
  tenant: string,
  actor: Actor,
  input: CreateConversation,
  traceId?: string,
): Promise<{ id: string }> {
  const creator = actor.type === 'user' ? actor.user_id : null;
  const members = [...new Set(input.members.filter((m) => m !== creator))];
  if (members.length > deps.limits.maxMembersPerCall) throw new HeraldError('TOO_MANY_MEMBERS');
  if (input.audience === 'tenant' && input.kind !== 'announcement') {
    throw new HeraldError('INVALID_KIND', 'Only announcements may target the whole tenant.');
  }
  const id = randomUUID();
  return deps.db.transaction(async (tx) => {
    const ctx = ctxOf(deps, tenant, traceId)(tx);
    await ctx.writes.conversations.create({
      tenant,
      id,
      kind: input.kind,
      title: input.title,
      createdBy: creator,
      audience: input.audience ?? 'members',
    });
    if (creator) await addMembersTx(ctx, id, [creator], 'admin', false);
    if (members.length > 0) await addMembersTx(ctx, id, members, 'member', false);
    await handlers.SystemEvent(ctx, {
      kind: 'SystemEvent',
      conversation: id,
      data: { event: 'created', by: creator, title: input.title },
    });
    return { id };
  });
}

/** The pair's direct conversation, created on first call. */
export async function getDirect(
  deps: DomainDeps,
  tenant: string,
  user: string,
  other: string,
): Promise<{ id: string }> {
  return deps.db.transaction(async (tx) => ({
    id: await getOrCreateDirect(deps.writes(tx).conversations, tenant, user, other),
  }));
}

/**
 * Inserts members in bulk (existing ones are left as they are), keeps
 * member_count, and gives each new member an inbox entry starting at the
 * current head so earlier history does not count as unread.
 */
async function addMembersTx(
  ctx: ComposeContext,
  conversation: string,
  users: string[],
  role: MemberRole,
  announce: boolean,
): Promise<string[]> {
  const known = new Set(await ctx.writes.conversations.knownUsers(ctx.tenant, users));
  if (known.size !== new Set(users).size) {
    throw new HeraldError(
      'USER_NOT_FOUND',
      `Unknown users: ${users
        .filter((u) => !known.has(u))
        .slice(0, 5)
        .join(', ')}.`,
    );
  }
  const added = await ctx.writes.conversations.addMembers({
    tenant: ctx.tenant,
    conversation,
    users,
    role,
    largeThreshold: ctx.limits.largeChannelThreshold,
    traceId: ctx.traceId,
  });
  if (announce && added.length > 0) {
    await handlers.SystemEvent(ctx, {
      kind: 'SystemEvent',
      conversation,
      data: { event: 'joined', user_ids: added, by: null },
    });
  }
  return added;
}

/**
 * Locks the conversation and checks the actor may manage its members: the system always, a
 * moderator or admin always; a plain member only where `membersMay` includes the kind.
 */
async function requireRole(
  ctx: ComposeContext,
  conversation: string,
  actor: Actor,
  membersMay: readonly ConversationKind[],
) {
  const conv = await lockConversation(ctx, conversation, actor);
  if (actor.type === 'system') return conv;
  if (!conv.role) throw new HeraldError('NOT_A_MEMBER');
  if (conv.role === 'member' && !membersMay.includes(conv.kind)) throw new HeraldError('FORBIDDEN');
  return conv;
}

export async function addMembers(
  deps: DomainDeps,
  tenant: string,
  actor: Actor,
  conversation: string,
  users: string[],
  traceId?: string,
): Promise<{ added: string[] }> {
  if (users.length === 0) throw new HeraldError('VALIDATION_FAILED', 'No users to add.');
  if (users.length > deps.limits.maxMembersPerCall) throw new HeraldError('TOO_MANY_MEMBERS');
  return deps.db.transaction(async (tx) => {
    const ctx = ctxOf(deps, tenant, traceId)(tx);
    // Groups let any member invite; channels and announcements need a moderator or admin.
    const conv = await requireRole(ctx, conversation, actor, ['group']);
    if (conv.kind === 'direct' || conv.kind === 'notices') throw new HeraldError('INVALID_KIND');
    const added = await addMembersTx(ctx, conversation, users, 'member', true);
    return { added };
  });
}

/** Self-join: channels are joinable by any user of the tenant. */
export async function join(
  deps: DomainDeps,
  tenant: string,
  user: string,
  conversation: string,
  traceId?: string,
): Promise<{ joined: boolean }> {
  return deps.db.transaction(async (tx) => {
    const ctx = ctxOf(deps, tenant, traceId)(tx);
    const conv = await lockConversation(ctx, conversation, { type: 'user', user_id: user });
    if (conv.kind !== 'channel') throw new HeraldError('INVALID_KIND', 'Only channels can be joined.');
    if (conv.role) return { joined: false };
    const added = await addMembersTx(ctx, conversation, [user], 'member', true);
    return { joined: added.length > 0 };
  });
}

/**
 * Removes a member: themselves, or anyone by a moderator/admin (in every kind: a plain group
 * member may invite but not remove others). The user's inbox entry becomes a tombstone with a
 * fresh version and an `inbox` frame `{removed: true}` on their personal topic, so both live
 * clients and inbox sync drop the conversation.
 */
export async function removeMember(
  deps: DomainDeps,
  tenant: string,
  actor: Actor,
  conversation: string,
  user: string,
  traceId?: string,
): Promise<{ removed: boolean }> {
  return deps.db.transaction(async (tx) => {
    const ctx = ctxOf(deps, tenant, traceId)(tx);
    const self = actor.type === 'user' && actor.user_id === user;
    const conv = self
      ? await lockConversation(ctx, conversation, actor)
      : await requireRole(ctx, conversation, actor, []);
    if (self && !conv.role) throw new HeraldError('NOT_A_MEMBER');
    if (conv.kind === 'direct' || conv.kind === 'notices') throw new HeraldError('INVALID_KIND');
    const removed = await ctx.writes.conversations.removeMember(tenant, conversation, user, traceId);
    if (!removed) throw new HeraldError('NOT_A_MEMBER', `${user} is not a member.`);
    if (!self) {
      await recordAudit(tx, {
        tenant,
        actor: actor.type === 'user' ? { type: 'user', id: actor.user_id } : { type: 'system' },
        action: 'member.removed',
        target: { type: 'user', id: user },
        details: { conversation_id: conversation, kind: conv.kind, by_role: conv.role ?? null },
        trace: traceId,
      });
    }
    await handlers.SystemEvent(ctx, {
      kind: 'SystemEvent',
      conversation,
      data: { event: 'left', user_ids: [user], by: actor.type === 'user' ? actor.user_id : null },
    });
    // Dropping to the threshold turns a large channel back into one with stored counters,
    // which were not kept while it was large: recount them once (bounded by the threshold).
    const threshold = deps.limits.largeChannelThreshold;
    if (conv.member_count > threshold && conv.member_count - 1 <= threshold) {
      await deps.projection(tx).recount(tenant, conversation, threshold, traceId);
    }
    return { removed };
  });
}
