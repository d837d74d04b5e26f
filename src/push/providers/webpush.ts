// Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291):
// `web-push` builds the signed, encrypted request; it goes out through the pinned sender.
// Topic (the collapse key) makes the push service replace an undelivered earlier push of the
// same conversation.
import { createHash } from 'node:crypto';
import webpush from 'web-push';
import type { AddressPolicy } from '../../webhooks/address-policy.ts';
import type { DeviceTarget } from '../devices.ts';
import { request } from '../http.ts';
import type { VapidKeys } from '../vapid.ts';
import { classify, type PushNotification, type PushProvider, type PushResult, retryAfter } from './port.ts';

/** Topic: at most 32 base64url characters (RFC 8030 §5.4), so a hash of the key. */
export function webPushTopic(collapseKey: string): string {
  return createHash('sha256').update(collapseKey).digest('base64url').slice(0, 32);
}

/** What the service worker receives (JSON): the notification and its data. */
export function webPushPayload(n: PushNotification): string {
  return JSON.stringify({
    push_id: n.pushId,
    kind: n.kind,
    title: n.title,
    body: n.body,
    badge: n.badge,
    tag: n.collapseKey,
    data: n.data,
  });
}

export function webPushProvider(opts: {
  policy: AddressPolicy;
  vapid: VapidKeys;
  subject: string;
  timeoutMs: number;
}): PushProvider {
  return {
    platform: 'webpush',
    async send(device: DeviceTarget, n: PushNotification, signal: AbortSignal): Promise<PushResult> {
      if (!device.keys) return { outcome: 'failed', status: null, response: 'subscription has no keys' };
      const details = webpush.generateRequestDetails(
        { endpoint: device.token, keys: device.keys },
        webPushPayload(n),
        {
          vapidDetails: { subject: opts.subject, ...opts.vapid },
          TTL: n.ttlSec,
          topic: webPushTopic(n.collapseKey),
          urgency: 'high',
          contentEncoding: 'aes128gcm',
        },
      );
      const res = await request(opts.policy, details.endpoint, {
        method: details.method,
        headers: details.headers as Record<string, string>,
        body: details.body,
        timeoutMs: opts.timeoutMs,
        signal,
      });
      // 404 / 410: the subscription expired or was unsubscribed.
      const outcome = res.status === 404 || res.status === 410 ? 'invalid_token' : classify(res.status);
      return {
        outcome,
        status: res.status,
        response: res.body.trim().slice(0, 300) || (res.headers.location as string | undefined) || null,
        retryAfterMs: retryAfter(res.headers['retry-after']),
      };
    },
  };
}
