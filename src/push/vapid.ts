// The VAPID key pair of Web Push. Configured (HERALD_VAPID_*), or generated once and kept in
// the store's `settings` table like the JWT signing secret: every node signs with the same
// pair, and subscriptions made against its public key stay valid across restarts.
import webpush from 'web-push';
import type { Sql } from '../store/db.ts';

const KEY = 'vapid_keys';

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

export async function vapidKeys(
  db: Sql,
  configured: { publicKey: string | null; privateKey: string | null },
): Promise<VapidKeys> {
  if (configured.publicKey && configured.privateKey)
    return { publicKey: configured.publicKey, privateKey: configured.privateKey };
  // First writer wins; concurrent starters all read the winner's pair.
  await db.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
    KEY,
    JSON.stringify(webpush.generateVAPIDKeys()),
  ]);
  const { rows } = await db.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [KEY]);
  return JSON.parse(rows[0].value) as VapidKeys;
}
