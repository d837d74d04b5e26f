// One webhook attempt: sign per Standard Webhooks, POST to the checked address (never a
// second DNS lookup), give up after the timeout. Redirects are not followed — a 3xx is a
// failed attempt, so a receiver cannot bounce Herald to an address the policy refused.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { AddressPolicy, Target } from './address-policy.ts';

export interface Attempt {
  url: string;
  secret: string;
  /** webhook-id */
  id: string;
  body: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface AttemptResult {
  ok: boolean;
  /** HTTP status, when a response arrived. */
  status: number | null;
  error: string | null;
  latencyMs: number;
}

/** Keeps what a receiver says short in the delivery log. */
const MAX_ERROR = 300;

export async function attemptDelivery(policy: AddressPolicy, a: Attempt): Promise<AttemptResult> {
  const started = performance.now();
  const done = (r: Omit<AttemptResult, 'latencyMs'>): AttemptResult => ({
    ...r,
    error: r.error?.slice(0, MAX_ERROR) ?? null,
    latencyMs: Math.round(performance.now() - started),
  });
  let target: Target;
  try {
    target = await policy.check(a.url);
  } catch (err) {
    return done({ ok: false, status: null, error: `refused: ${(err as Error).message}` });
  }
  const now = new Date();
  const signature = new Webhook(a.secret).sign(a.id, now, a.body);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Herald-Webhooks/1',
    'webhook-id': a.id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signature,
  };
  try {
    const status = await post(target, headers, a.body, a.timeoutMs, a.signal);
    const ok = status >= 200 && status < 300;
    return done({ ok, status, error: ok ? null : `HTTP ${status}` });
  } catch (err) {
    return done({ ok: false, status: null, error: (err as Error).message || String(err) });
  }
}

function post(
  target: Target,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  outer?: AbortSignal,
): Promise<number> {
  // The pinned lookup: whatever name the request carries, it connects to the checked address.
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) {
      (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    } else cb(null, target.address, target.family);
  };
  const signal = outer
    ? AbortSignal.any([outer, AbortSignal.timeout(timeoutMs)])
    : AbortSignal.timeout(timeoutMs);
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      target.url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup,
        // TLS still verifies the certificate against the URL's host name.
        servername: target.hostname,
        signal,
        agent: false,
      },
      (res) => {
        // Drain and discard: only the status matters, and the timeout covers the body too.
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', (err) =>
      reject(signal.aborted && !outer?.aborted ? new Error(`timeout after ${timeoutMs} ms`) : err),
    );
    req.end(body);
  });
}
