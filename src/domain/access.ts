// Who may read a conversation (its history, its live events, its receipts) and keep a read
// marker in it: its members, and every user of the tenant when it is a tenant-wide
// announcement. The one statement of the rule, in TypeScript and as SQL, for every caller.
import type { ConversationKind } from '../protocol/model.ts';

export interface AudienceOf {
  kind: ConversationKind | string;
  audience: string;
}

/** Every user of the tenant reads it, member or not. */
export function isTenantWide(c: AudienceOf): boolean {
  return c.kind === 'announcement' && c.audience === 'tenant';
}

export function mayRead(c: AudienceOf, member: boolean): boolean {
  return member || isTenantWide(c);
}

/**
 * The rule as a SQL condition over conversation alias `c` and a LEFT JOINed `members` alias `m`
 * (null when the user is not a member).
 */
export function mayReadSql(c: string, m: string): string {
  return `(${m}.user_id IS NOT NULL OR (${c}.kind = 'announcement' AND ${c}.audience = 'tenant'))`;
}
