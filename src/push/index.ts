// Offline push, assembled for a node: the VAPID keys, one provider per configured platform
// (Web Push always; FCM and APNs when their credentials are set), and the dispatcher.
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { ConnectionRegistry } from '../registry/ports.ts';
import type { Db } from '../store/db.ts';
import type { AddressPolicy } from '../webhooks/address-policy.ts';
import type { PushPlatform } from './devices.ts';
import { PushDispatcher } from './dispatcher.ts';
import { pushMetrics } from './metrics.ts';
import { apnsProvider } from './providers/apns.ts';
import { fcmProvider } from './providers/fcm.ts';
import type { PushProvider } from './providers/port.ts';
import { webPushProvider } from './providers/webpush.ts';
import { vapidKeys } from './vapid.ts';

export interface Push {
  dispatcher: PushDispatcher;
  /** The VAPID public key browsers subscribe with (applicationServerKey). */
  vapidPublicKey: string;
  configured(platform: PushPlatform): boolean;
}

export async function createPush(opts: {
  db: Db;
  config: Config;
  policy: AddressPolicy;
  connections: ConnectionRegistry;
  metrics: Registry;
  onError: (err: unknown) => void;
}): Promise<Push> {
  const { config, policy } = opts;
  const push = config.push;
  const timeoutMs = push.timeoutMs;
  const vapid = await vapidKeys(opts.db, push.vapid);
  const providers: Partial<Record<PushPlatform, PushProvider>> = {
    webpush: webPushProvider({ policy, vapid, subject: push.vapid.subject, timeoutMs }),
  };
  if (push.fcm) providers.fcm = fcmProvider({ config: push.fcm, policy, timeoutMs });
  if (push.apns) providers.apns = apnsProvider({ config: push.apns, policy, timeoutMs });
  const dispatcher = new PushDispatcher({
    db: opts.db,
    config: push,
    connections: opts.connections,
    providers,
    largeChannel: config.limits.largeChannelThreshold,
    metrics: pushMetrics(opts.metrics),
    onError: opts.onError,
  });
  return {
    dispatcher,
    vapidPublicKey: vapid.publicKey,
    configured: (p) => providers[p] !== undefined,
  };
}
