// Firebase Cloud Messaging, HTTP v1: an OAuth2 access token from a service-account JWT
// (RS256, signed with `jose`, exchanged at the token endpoint and cached until shortly
// before it expires), then POST {sendUrl}/v1/projects/{project}/messages:send. The collapse
// key is Android's collapse_key and notification tag, and APNs' thread-id/collapse-id for
// iOS apps that FCM relays to.
import { importPKCS8, SignJWT } from 'jose';
import type { FcmConfig } from '../../config.ts';
import type { AddressPolicy } from '../../webhooks/address-policy.ts';
import type { DeviceTarget } from '../devices.ts';
import { request } from '../http.ts';
import { classify, type PushNotification, type PushProvider, type PushResult, retryAfter } from './port.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/** The request body FCM receives for a notification (exported for tests and docs). */
export function fcmMessage(token: string, n: PushNotification): Record<string, unknown> {
  return {
    message: {
      token,
      notification: { title: n.title, body: n.body },
      data: { ...n.data, push_id: n.pushId },
      android: {
        collapse_key: n.collapseKey,
        priority: 'high',
        ttl: `${n.ttlSec}s`,
        notification: { tag: n.collapseKey, notification_count: n.badge },
      },
      apns: {
        headers: { 'apns-collapse-id': n.collapseKey.slice(0, 64), 'apns-priority': '10' },
        payload: { aps: { badge: n.badge, 'thread-id': n.collapseKey, sound: 'default' } },
      },
    },
  };
}

/** Error codes of FCM v1 that mean the token is gone. */
const DEAD = new Set(['UNREGISTERED']);

function errorCodeOf(body: string): { code: string | null; text: string } {
  try {
    const e = (JSON.parse(body) as { error?: Record<string, unknown> }).error ?? {};
    const details = (e.details as { errorCode?: string }[] | undefined) ?? [];
    const code = details.find((d) => d.errorCode)?.errorCode ?? (e.status as string | undefined) ?? null;
    return { code, text: [code, e.message].filter(Boolean).join(': ') };
  } catch {
    return { code: null, text: body.slice(0, 300) };
  }
}

export function fcmProvider(opts: {
  config: FcmConfig;
  policy: AddressPolicy;
  timeoutMs: number;
}): PushProvider {
  const { config, policy, timeoutMs } = opts;
  let cached: { token: string; until: number } | null = null;
  let inflight: Promise<string> | null = null;

  async function fetchToken(signal: AbortSignal): Promise<string> {
    const key = await importPKCS8(config.privateKey, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(config.clientEmail)
      .setSubject(config.clientEmail)
      .setAudience(config.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(key);
    const res = await request(policy, config.tokenUrl, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      }).toString(),
      timeoutMs,
      signal,
    });
    if (res.status !== 200) throw new TokenError(res.status, res.body.slice(0, 200));
    const body = JSON.parse(res.body) as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new TokenError(res.status, 'no access_token in the answer');
    // Renewed a minute early: a token never expires between the check and the send.
    cached = { token: body.access_token, until: Date.now() + ((body.expires_in ?? 3600) - 60) * 1000 };
    return body.access_token;
  }

  async function accessToken(signal: AbortSignal): Promise<string> {
    if (cached && cached.until > Date.now()) return cached.token;
    inflight ??= fetchToken(signal).finally(() => {
      inflight = null;
    });
    return inflight;
  }

  return {
    platform: 'fcm',
    async send(device: DeviceTarget, n: PushNotification, signal: AbortSignal): Promise<PushResult> {
      let token: string;
      try {
        token = await accessToken(signal);
      } catch (err) {
        if (err instanceof TokenError)
          return {
            outcome: err.status >= 500 || err.status === 429 ? 'retry' : 'failed',
            status: err.status,
            response: `oauth token: ${err.message}`,
          };
        throw err;
      }
      const url = `${config.sendUrl.replace(/\/$/, '')}/v1/projects/${encodeURIComponent(config.projectId)}/messages:send`;
      const res = await request(policy, url, {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(fcmMessage(device.token, n)),
        timeoutMs,
        signal,
      });
      if (res.status === 200) {
        const name = (JSON.parse(res.body) as { name?: string }).name ?? null;
        return { outcome: 'sent', status: 200, response: name };
      }
      const { code, text } = errorCodeOf(res.body);
      // A rejected access token (revoked, clock skew): fetch a new one on the retry.
      if (res.status === 401) cached = null;
      const dead = res.status === 404 || (code !== null && DEAD.has(code));
      return {
        outcome: dead ? 'invalid_token' : res.status === 401 ? 'retry' : classify(res.status),
        status: res.status,
        response: text || null,
        retryAfterMs: retryAfter(res.headers['retry-after']),
      };
    },
  };
}

class TokenError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`HTTP ${status} ${message}`);
  }
}
