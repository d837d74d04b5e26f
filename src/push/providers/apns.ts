// Apple Push Notification service: HTTP/2 (node:http2) with token auth — an ES256 provider
// token (`jose`, kid = key id, iss = team id) reused for 50 minutes (Apple refuses tokens
// older than an hour and renewals more often than every 20 minutes). One connection is kept
// and reused, connected to the address the webhook policy checked (SSRF). apns-collapse-id
// replaces an earlier notification of the conversation; thread-id groups them.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { importPKCS8, SignJWT } from 'jose';
import type { ApnsConfig } from '../../config.ts';
import type { AddressPolicy } from '../../webhooks/address-policy.ts';
import type { DeviceTarget } from '../devices.ts';
import { classify, type PushNotification, type PushProvider, type PushResult, retryAfter } from './port.ts';

const TOKEN_TTL_MS = 50 * 60 * 1000;

/** The JSON body APNs receives (exported for tests and docs). */
export function apnsPayload(n: PushNotification): Record<string, unknown> {
  return {
    aps: {
      alert: { title: n.title, body: n.body },
      badge: n.badge,
      sound: 'default',
      'thread-id': n.collapseKey,
    },
    herald: { ...n.data, push_id: n.pushId },
  };
}

/** Reasons of APNs that mean the token is gone. */
const DEAD = new Set(['BadDeviceToken', 'Unregistered', 'DeviceTokenNotForTopic', 'ExpiredToken']);

export function apnsProvider(opts: {
  config: ApnsConfig;
  policy: AddressPolicy;
  timeoutMs: number;
}): PushProvider {
  const { config, policy, timeoutMs } = opts;
  let token: { jwt: string; at: number } | null = null;
  let session: http2.ClientHttp2Session | null = null;

  async function providerToken(): Promise<string> {
    if (token && Date.now() - token.at < TOKEN_TTL_MS) return token.jwt;
    const key = await importPKCS8(config.key, 'ES256');
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: config.keyId })
      .setIssuer(config.teamId)
      .setIssuedAt()
      .sign(key);
    token = { jwt, at: Date.now() };
    return jwt;
  }

  async function connect(): Promise<http2.ClientHttp2Session> {
    if (session && !session.closed && !session.destroyed) return session;
    const target = await policy.check(config.url);
    const port = Number(target.url.port) || (target.url.protocol === 'https:' ? 443 : 80);
    const s = http2.connect(target.url.origin, {
      // The checked address, whatever DNS says now; TLS still verifies the URL's host name.
      createConnection: () =>
        target.url.protocol === 'https:'
          ? tls.connect({ host: target.address, port, servername: target.hostname, ALPNProtocols: ['h2'] })
          : net.connect({ host: target.address, port }),
    });
    s.on('error', () => {}); // Reported per request; the next send reconnects.
    s.on('close', () => {
      if (session === s) session = null;
    });
    s.on('goaway', () => {
      if (session === s) session = null;
    });
    s.unref();
    session = s;
    return s;
  }

  function post(
    s: http2.ClientHttp2Session,
    headers: http2.OutgoingHttpHeaders,
    body: string,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const stream = s.request(headers, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      let out = '';
      let head: http2.IncomingHttpHeaders = {};
      stream.setEncoding('utf8');
      stream.on('response', (h) => {
        head = h;
      });
      stream.on('data', (chunk: string) => {
        if (out.length < 4096) out += chunk;
      });
      stream.on('end', () => resolve({ status: Number(head[':status'] ?? 0), headers: head, body: out }));
      stream.on('error', (err) =>
        reject(
          err.name === 'AbortError' && !signal.aborted ? new Error(`timeout after ${timeoutMs} ms`) : err,
        ),
      );
      stream.end(body);
    });
  }

  return {
    platform: 'apns',
    async send(device: DeviceTarget, n: PushNotification, signal: AbortSignal): Promise<PushResult> {
      const s = await connect();
      const res = await post(
        s,
        {
          ':method': 'POST',
          ':path': `/3/device/${device.token}`,
          authorization: `bearer ${await providerToken()}`,
          'apns-topic': config.topic,
          'apns-push-type': 'alert',
          'apns-priority': '10',
          'apns-id': n.pushId,
          'apns-collapse-id': n.collapseKey.slice(0, 64),
          'apns-expiration': String(n.ttlSec === 0 ? 0 : Math.floor(Date.now() / 1000) + n.ttlSec),
          'content-type': 'application/json',
        },
        JSON.stringify(apnsPayload(n)),
        signal,
      );
      if (res.status === 200)
        return { outcome: 'sent', status: 200, response: (res.headers['apns-id'] as string) ?? null };
      let reason = '';
      try {
        reason = (JSON.parse(res.body) as { reason?: string }).reason ?? '';
      } catch {
        reason = res.body.slice(0, 200);
      }
      // Apple refused the provider token: make a new one for the retry.
      if (res.status === 403 && reason === 'ExpiredProviderToken') token = null;
      const dead = res.status === 410 || DEAD.has(reason);
      return {
        outcome: dead
          ? 'invalid_token'
          : reason === 'ExpiredProviderToken' || reason === 'TooManyProviderTokenUpdates'
            ? 'retry'
            : classify(res.status),
        status: res.status,
        response: reason || null,
        retryAfterMs: retryAfter(res.headers['retry-after'] as string | undefined),
      };
    },
    async close() {
      session?.close();
      session = null;
    },
  };
}
