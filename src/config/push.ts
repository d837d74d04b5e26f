// Offline push settings (docs/push.md): delays, retries, VAPID keys, FCM and APNs credentials.
import { bool, ConfigError, type Env, inlineOrFile, int, url } from './env.ts';

/** Offline push (docs/push.md). Outbound requests follow webhooks.allowHosts (SSRF). */
export interface PushConfig {
  /** A recipient who has not read a message this long (and has no socket) gets a push (ms). */
  delayMs: number;
  /** The same for a mentioned recipient (ms); 0: at once. */
  mentionDelayMs: number;
  /** Polling fallback of the dispatcher (ms). */
  pollMs: number;
  /** Per-attempt timeout (ms). */
  timeoutMs: number;
  /** How long a failing push is retried before it is marked failed (s). */
  retryWindowSec: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long the provider keeps an undelivered push for an offline device (s). */
  ttlSec: number;
  /** Finished log rows (and removed devices) older than this are pruned (s). */
  logRetentionSec: number;
  /** Devices per user; registering one more drops the least recently registered. */
  maxDevicesPerUser: number;
  /** Put the message preview in the notification (off: "New message"). */
  showBody: boolean;
  /** VAPID keys (base64url); generated on first start and kept in the store when unset. */
  vapid: { publicKey: string | null; privateKey: string | null; subject: string };
  fcm: FcmConfig | null;
  apns: ApnsConfig | null;
}

export interface FcmConfig {
  projectId: string;
  clientEmail: string;
  /** PKCS#8 PEM of the service account. */
  privateKey: string;
  /** OAuth2 token endpoint (the service account's token_uri by default). */
  tokenUrl: string;
  /** Base URL of the FCM HTTP v1 API. */
  sendUrl: string;
}

export interface ApnsConfig {
  /** PKCS#8 PEM of the .p8 signing key. */
  key: string;
  keyId: string;
  teamId: string;
  /** apns-topic: the app's bundle id. */
  topic: string;
  /** https://api.push.apple.com (or api.sandbox.push.apple.com). */
  url: string;
}

function fcm(env: Env): FcmConfig | null {
  const text = inlineOrFile(env, 'HERALD_FCM_SERVICE_ACCOUNT', (v) => v.startsWith('{'));
  if (!text) return null;
  let sa: Record<string, unknown>;
  try {
    sa = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ConfigError('HERALD_FCM_SERVICE_ACCOUNT is not a service-account JSON');
  }
  for (const field of ['project_id', 'client_email', 'private_key'])
    if (typeof sa[field] !== 'string' || !sa[field])
      throw new ConfigError(`HERALD_FCM_SERVICE_ACCOUNT lacks ${field}`);
  return {
    projectId: sa.project_id as string,
    clientEmail: sa.client_email as string,
    privateKey: sa.private_key as string,
    tokenUrl:
      url(env, 'HERALD_FCM_TOKEN_URL', ['https:', 'http:']) ??
      (typeof sa.token_uri === 'string' ? sa.token_uri : 'https://oauth2.googleapis.com/token'),
    sendUrl: url(env, 'HERALD_FCM_URL', ['https:', 'http:']) ?? 'https://fcm.googleapis.com',
  };
}

function apns(env: Env): ApnsConfig | null {
  const key = inlineOrFile(env, 'HERALD_APNS_KEY', (v) => v.startsWith('-----BEGIN'));
  if (!key) return null;
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new ConfigError(`HERALD_APNS_KEY is set: ${name} is required too`);
    return v;
  };
  return {
    key,
    keyId: need('HERALD_APNS_KEY_ID'),
    teamId: need('HERALD_APNS_TEAM_ID'),
    topic: need('HERALD_APNS_TOPIC'),
    url: url(env, 'HERALD_APNS_URL', ['https:', 'http:']) ?? 'https://api.push.apple.com',
  };
}

export function push(env: Env): PushConfig {
  const subject = env.HERALD_VAPID_SUBJECT || 'mailto:push@herald.invalid';
  if (!/^(mailto:|https:\/\/)/.test(subject))
    throw new ConfigError('HERALD_VAPID_SUBJECT must be a mailto: or https: URL');
  const publicKey = env.HERALD_VAPID_PUBLIC_KEY || null;
  const privateKey = env.HERALD_VAPID_PRIVATE_KEY || null;
  if (Boolean(publicKey) !== Boolean(privateKey))
    throw new ConfigError('Set both HERALD_VAPID_PUBLIC_KEY and HERALD_VAPID_PRIVATE_KEY, or neither');
  return {
    delayMs: int(env, 'HERALD_PUSH_DELAY_MS', 10_000),
    mentionDelayMs: int(env, 'HERALD_PUSH_MENTION_DELAY_MS', 0),
    pollMs: int(env, 'HERALD_PUSH_POLL_MS', 1000, 10),
    timeoutMs: int(env, 'HERALD_PUSH_TIMEOUT_MS', 10_000, 10),
    retryWindowSec: int(env, 'HERALD_PUSH_RETRY_WINDOW_SEC', 900, 1),
    retryBaseMs: int(env, 'HERALD_PUSH_RETRY_BASE_MS', 1000, 1),
    retryMaxMs: int(env, 'HERALD_PUSH_RETRY_MAX_MS', 60_000, 1),
    ttlSec: int(env, 'HERALD_PUSH_TTL_SEC', 24 * 3600, 0),
    logRetentionSec: int(env, 'HERALD_PUSH_LOG_RETENTION_SEC', 7 * 24 * 3600, 60),
    maxDevicesPerUser: int(env, 'HERALD_PUSH_MAX_DEVICES_PER_USER', 10, 1),
    showBody: bool(env, 'HERALD_PUSH_SHOW_BODY', true),
    vapid: { publicKey, privateKey, subject },
    fcm: fcm(env),
    apns: apns(env),
  };
}
