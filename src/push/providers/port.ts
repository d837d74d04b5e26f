// The one port every push provider implements (Web Push, FCM, APNs): given a device and a
// notification, one attempt, classified so the dispatcher needs no provider knowledge.
import type { DeviceTarget, PushPlatform } from '../devices.ts';

export interface PushNotification {
  /** Stable across retries (receiver-side dedup; APNs apns-id). */
  pushId: string;
  kind: 'message' | 'test';
  title: string;
  body: string;
  /** The user's total unread count (app icon badge). */
  badge: number;
  /** Coalescing key: one notification per conversation replaces the previous one. */
  collapseKey: string;
  /** Seconds the provider keeps it for an offline device. */
  ttlSec: number;
  /** Delivered to the app beside the visible notification (all strings for FCM). */
  data: Record<string, string>;
}

/**
 * sent: accepted by the provider. invalid_token: the device is gone (404/410, UNREGISTERED,
 * BadDeviceToken, …): the dispatcher removes it. retry: may work later (429, 5xx, network,
 * timeout). failed: will not work as is (bad request, bad credentials).
 */
export type PushOutcome = 'sent' | 'invalid_token' | 'retry' | 'failed';

export interface PushResult {
  outcome: PushOutcome;
  /** HTTP status, when an answer arrived. */
  status: number | null;
  /** Short: the provider's reason, or its message id. */
  response: string | null;
  /** Provider hint for the next retry (Retry-After), in ms. */
  retryAfterMs?: number;
}

export interface PushProvider {
  readonly platform: PushPlatform;
  send(device: DeviceTarget, n: PushNotification, signal: AbortSignal): Promise<PushResult>;
  close?(): Promise<void>;
}

/** Retry-After (seconds or an HTTP date) in ms, or undefined. */
export function retryAfter(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** The status classes every provider shares. */
export function classify(status: number): PushOutcome {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 429 || status >= 500) return 'retry';
  return 'failed';
}
