// Operator commands against the store: tenants, API keys, tokens.
import type { Command } from 'commander';
import { listTenants, rotateApiKey } from '../auth/api-keys.ts';
import { HeraldError } from '../protocol/index.ts';
import { print, withStore } from './context.ts';

export function registerAdminCommands(program: Command): void {
  const tenant = program.command('tenant').description('create and list tenants');
  tenant
    .command('create')
    .description('create a tenant and print its first API key (shown once; only its hash is kept)')
    .argument('<tenant_id>', '2-63 characters of a-z, 0-9, _ and -')
    .option('--name <name>', 'display name (default: the id)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { name?: string; json?: boolean }) => {
      const created = await withStore(({ auth }) =>
        auth.createTenant({ tenant_id: id, name: o.name }, { type: 'cli' }),
      );
      print(created, Boolean(o.json));
    });
  tenant
    .command('list')
    .description('list tenants with their live API keys and users')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const rows = await withStore(({ db }) => listTenants(db));
      if (rows.length === 0 && !o.json) process.stdout.write('no tenants\n');
      else print(rows, Boolean(o.json));
    });

  program
    .command('apikey')
    .description('manage a tenant’s API keys')
    .command('rotate')
    .description('issue a new API key for the tenant and revoke all its others (printed once)')
    .argument('<tenant_id>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const rotated = await withStore(({ db }) => rotateApiKey(db, id, { type: 'cli' }));
      print({ tenant_id: id, ...rotated }, Boolean(o.json));
    });

  program
    .command('token')
    .description('user tokens')
    .command('mint')
    .description('mint an access + refresh token pair for a user of a tenant (registers the user if new)')
    .argument('<tenant_id>')
    .argument('<user_id>')
    .option('--display-name <name>', 'the user’s display name')
    .option('--json', 'print JSON')
    .action(async (tenantId: string, userId: string, o: { displayName?: string; json?: boolean }) => {
      const pair = await withStore(async ({ auth, db }) => {
        const { rows } = await db.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId]);
        if (!rows[0])
          throw new HeraldError(
            'TENANT_NOT_FOUND',
            `No tenant ${tenantId} (create it: herald tenant create ${tenantId}).`,
          );
        return auth.issue(tenantId, userId, o.displayName ?? null);
      });
      if (o.json) print(pair as unknown as Record<string, unknown>, true);
      else process.stdout.write(`${pair.access_token}\n`);
    });
}
