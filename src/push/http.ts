// One outbound HTTP/1.1 request of a push provider, through the webhook address policy
// (SSRF): the URL's host is resolved and checked once and the connection pinned to the
// checked address, redirects are not followed, and the attempt ends at the timeout.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { AddressPolicy, Target } from '../webhooks/address-policy.ts';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The response body, cut at 4 KiB. */
  body: string;
}

const MAX_BODY = 4096;

/** The lookup a pinned connection uses: whatever the name, the checked address. */
export function pinnedLookup(target: Target): LookupFunction {
  return (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) {
      (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    } else cb(null, target.address, target.family);
  };
}

export async function request(
  policy: AddressPolicy,
  url: string,
  opts: {
    method?: string;
    headers: Record<string, string>;
    body: string | Buffer;
    timeoutMs: number;
    signal?: AbortSignal;
  },
): Promise<HttpAnswer> {
  const target = await policy.check(url);
  const signal = opts.signal
    ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)])
    : AbortSignal.timeout(opts.timeoutMs);
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      target.url,
      {
        method: opts.method ?? 'POST',
        headers: { ...opts.headers, 'content-length': String(Buffer.byteLength(opts.body)) },
        lookup: pinnedLookup(target),
        servername: target.hostname,
        signal,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < MAX_BODY) body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.slice(0, MAX_BODY) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err) =>
      reject(signal.aborted && !opts.signal?.aborted ? new Error(`timeout after ${opts.timeoutMs} ms`) : err),
    );
    req.end(opts.body);
  });
}
