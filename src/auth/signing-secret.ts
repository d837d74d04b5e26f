// The HS256 signing secret of access tokens. Configured (HERALD_JWT_SECRET),
// or generated once and kept in the store's `settings` table — for PGlite
// that is the data dir; with DATABASE_URL every node reads the same row, so
// tokens minted by one node verify on all of them.
import type { Sql } from '../domain/ports.ts';
import { newSecret } from './secrets.ts';

const KEY = 'jwt_signing_secret';

export async function signingSecret(db: Sql, configured: string | null): Promise<string> {
  if (configured) return configured;
  // First writer wins; concurrent starters all read the winner's value.
  await db.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
    KEY,
    newSecret('', 48),
  ]);
  const { rows } = await db.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [KEY]);
  return rows[0].value;
}
