// Zero-setup: on the first start of an embedded node, a `demo` tenant with
// users alice, bob and carol and a group conversation. Its API key is shown
// once (only the hash is stored); later starts find the tenant and do nothing.
import type { Auth } from '../auth/service.ts';
import type { DomainDeps } from '../domain/commands.ts';
import { createConversation } from '../domain/conversations.ts';

export const DEMO_TENANT = 'demo';
export const DEMO_USERS = ['alice', 'bob', 'carol'] as const;

/** Creates the demo tenant if absent. Returns its API key the one time it is created. */
export async function ensureDemo(
  deps: DomainDeps,
  auth: Auth,
): Promise<{ apiKey: string; conversation: string } | null> {
  const { rows } = await deps.db.query(
    `INSERT INTO tenants (id, name) VALUES ($1, 'Demo') ON CONFLICT DO NOTHING RETURNING id`,
    [DEMO_TENANT],
  );
  if (!rows[0]) return null;
  const { key: apiKey } = await auth.createApiKey(DEMO_TENANT);
  await deps.db.query(
    `INSERT INTO users (tenant_id, id, display_name)
     SELECT $1, u, initcap(u) FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING`,
    [DEMO_TENANT, [...DEMO_USERS]],
  );
  const { id } = await createConversation(
    deps,
    DEMO_TENANT,
    { type: 'user', user_id: 'alice' },
    { kind: 'group', title: 'Demo', members: ['bob', 'carol'] },
  );
  return { apiKey, conversation: id };
}
