// Local fakes of the three push services, on 127.0.0.1 only, each checking the exact request
// a real one would (auth header, payload, collapse key) and answering per a mode:
// - a Web Push service that verifies the VAPID JWT and decrypts the aes128gcm payload with the
//   subscription's private key, as the browser would (RFC 8291, by hand with node:crypto);
// - FCM HTTP v1: an OAuth2 token endpoint verifying the service-account JWT, and messages:send;
// - APNs over HTTP/2 (cleartext h2c here), verifying the ES256 provider token.
import {
  createDecipheriv,
  createECDH,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  randomUUID,
} from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { importJWK, jwtVerify } from 'jose';
import type { Db } from '../../src/store/db.ts';

/** Resolves when pred holds (checked on every request and every 20 ms). */
export function until(pred: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** Nothing left to decide or send for the tenant (deterministic end of a scenario). */
export async function settled(db: Db, tenant: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM push_pending WHERE tenant_id = $1)
            + (SELECT count(*) FROM push_deliveries WHERE tenant_id = $1 AND status = 'pending') AS n`,
      [tenant],
    );
    if (Number(rows[0].n) === 0) return;
    if (Date.now() - started > 30_000) throw new Error('push did not settle');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function listen(server: http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return (server.address() as AddressInfo).port;
}

function readBody(req: http.IncomingMessage | http2.Http2ServerRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Web Push

/** A browser's push subscription: a P-256 key pair and a 16-byte auth secret. */
export interface BrowserSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  decrypt(body: Buffer): string;
}

export function browserSubscription(endpoint: string): BrowserSubscription {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  const uaPublic = ecdh.getPublicKey();
  return {
    endpoint,
    keys: { p256dh: uaPublic.toString('base64url'), auth: auth.toString('base64url') },
    // RFC 8291 §3.4 + RFC 8188: salt(16) rs(4) idlen(1) keyid(the sender's public key), then
    // one record: AES-128-GCM, tag last, plaintext padded with 0x02 then zeros.
    decrypt(body) {
      const salt = body.subarray(0, 16);
      const idlen = body[20];
      const asPublic = body.subarray(21, 21 + idlen);
      const record = body.subarray(21 + idlen);
      const secret = ecdh.computeSecret(asPublic);
      const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
      const ikm = Buffer.from(hkdfSync('sha256', secret, auth, keyInfo, 32));
      const cek = Buffer.from(
        hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16),
      );
      const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
      const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
      decipher.setAuthTag(record.subarray(record.length - 16));
      const plain = Buffer.concat([
        decipher.update(record.subarray(0, record.length - 16)),
        decipher.final(),
      ]);
      let end = plain.length - 1;
      while (end >= 0 && plain[end] === 0) end--;
      if (plain[end] !== 2) throw new Error('bad padding delimiter');
      return plain.subarray(0, end).toString('utf8');
    },
  };
}

export interface WebPushReceived {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The decrypted payload (JSON), or null when it did not decrypt. */
  payload: Record<string, unknown> | null;
  /** What verifying the VAPID JWT found (null: valid). */
  vapidProblem: string | null;
  vapidKey: string | null;
}

export type PushMode = 'ok' | 'gone' | 'down' | 'hang';

export interface WebPushService {
  origin: string;
  received: WebPushReceived[];
  /** Per subscription path. */
  mode: (path: string) => PushMode;
  subscribe(name: string): BrowserSubscription;
  close(): Promise<void>;
}

export async function startWebPushService(opts: { subject: string }): Promise<WebPushService> {
  const subs = new Map<string, BrowserSubscription>();
  const hung = new Set<http.ServerResponse>();
  const svc: WebPushService = {
    origin: '',
    received: [],
    mode: () => 'ok',
    subscribe(name) {
      const path = `/push/${name}-${randomUUID()}`;
      const s = browserSubscription(`${svc.origin}${path}`);
      subs.set(path, s);
      return s;
    },
    async close() {
      for (const r of hung) r.destroy();
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const path = req.url ?? '';
    const sub = subs.get(path);
    let vapidProblem: string | null = null;
    let vapidKey: string | null = null;
    const m = /^vapid t=([^,]+), k=(\S+)$/.exec(String(req.headers.authorization ?? ''));
    if (!m) vapidProblem = 'no vapid authorization';
    else {
      vapidKey = m[2];
      try {
        const raw = Buffer.from(m[2], 'base64url');
        const key = await importJWK(
          {
            kty: 'EC',
            crv: 'P-256',
            x: raw.subarray(1, 33).toString('base64url'),
            y: raw.subarray(33, 65).toString('base64url'),
          },
          'ES256',
        );
        const { payload } = await jwtVerify(m[1], key, { audience: svc.origin, subject: opts.subject });
        if (!payload.exp || payload.exp > Date.now() / 1000 + 24 * 3600) vapidProblem = 'exp beyond 24 h';
      } catch (err) {
        vapidProblem = (err as Error).message;
      }
    }
    let payload: Record<string, unknown> | null = null;
    try {
      if (sub && req.headers['content-encoding'] === 'aes128gcm') payload = JSON.parse(sub.decrypt(body));
    } catch {
      payload = null;
    }
    svc.received.push({ path, headers: req.headers, payload, vapidProblem, vapidKey });
    const mode = sub ? svc.mode(path) : 'gone';
    if (mode === 'hang') {
      hung.add(res);
      return;
    }
    if (vapidProblem) return res.writeHead(403).end(vapidProblem);
    if (mode === 'gone') return res.writeHead(410).end('push subscription has unsubscribed or expired.');
    if (mode === 'down') return res.writeHead(503, { 'retry-after': '0' }).end('unavailable');
    res.writeHead(201, { location: `${svc.origin}/m/${randomUUID()}` }).end();
  });
  svc.origin = `http://127.0.0.1:${await listen(server)}`;
  return svc;
}

// ---------------------------------------------------------------------------------------------
// FCM HTTP v1

export interface FcmReceived {
  headers: http.IncomingHttpHeaders;
  body: { message: Record<string, unknown> & { token: string } };
}

export interface FcmService {
  url: string;
  /** The HERALD_FCM_SERVICE_ACCOUNT JSON for this fake. */
  serviceAccount: string;
  projectId: string;
  tokensIssued: number;
  /** Problems seen in assertions or bearer tokens (a test expects none). */
  problems: string[];
  received: FcmReceived[];
  /** Registration tokens FCM says are gone. */
  dead: Set<string>;
  down: boolean;
  close(): Promise<void>;
}

export async function startFcmService(): Promise<FcmService> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const projectId = 'herald-test';
  const clientEmail = 'push@herald-test.iam.gserviceaccount.com';
  const issued = new Set<string>();
  const svc: FcmService = {
    url: '',
    serviceAccount: '',
    projectId,
    tokensIssued: 0,
    problems: [],
    received: [],
    dead: new Set(),
    down: false,
    async close() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
  const server = http.createServer(async (req, res) => {
    const body = (await readBody(req)).toString('utf8');
    const json = (status: number, v: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    if (req.method === 'POST' && req.url === '/token') {
      const form = new URLSearchParams(body);
      try {
        if (req.headers['content-type'] !== 'application/x-www-form-urlencoded')
          throw new Error('content-type');
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
          throw new Error('grant_type');
        const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', publicKey, {
          issuer: clientEmail,
          audience: `${svc.url}/token`,
        });
        if (protectedHeader.alg !== 'RS256') throw new Error('alg');
        if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging') throw new Error('scope');
      } catch (err) {
        svc.problems.push(`assertion: ${(err as Error).message}`);
        return json(400, { error: 'invalid_grant' });
      }
      const token = `ya29.${randomUUID()}`;
      issued.add(token);
      svc.tokensIssued++;
      return json(200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
    }
    if (req.method === 'POST' && req.url === `/v1/projects/${projectId}/messages:send`) {
      const bearer = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (!bearer || !issued.has(bearer)) {
        svc.problems.push('send: bad bearer');
        return json(401, { error: { code: 401, status: 'UNAUTHENTICATED', message: 'bad token' } });
      }
      const msg = JSON.parse(body) as FcmReceived['body'];
      svc.received.push({ headers: req.headers, body: msg });
      if (svc.down) return json(503, { error: { code: 503, status: 'UNAVAILABLE', message: 'down' } });
      if (svc.dead.has(msg.message.token))
        return json(404, {
          error: {
            code: 404,
            status: 'NOT_FOUND',
            message: 'Requested entity was not found.',
            details: [
              { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' },
            ],
          },
        });
      return json(200, { name: `projects/${projectId}/messages/${randomUUID()}` });
    }
    json(404, { error: { code: 404, status: 'NOT_FOUND', message: `no route ${req.url}` } });
  });
  svc.url = `http://127.0.0.1:${await listen(server)}`;
  svc.serviceAccount = JSON.stringify({
    type: 'service_account',
    project_id: projectId,
    client_email: clientEmail,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    token_uri: `${svc.url}/token`,
  });
  return svc;
}

// ---------------------------------------------------------------------------------------------
// APNs

export interface ApnsReceived {
  headers: http2.IncomingHttpHeaders;
  token: string;
  body: { aps: Record<string, unknown>; herald: Record<string, string> };
}

export interface ApnsService {
  url: string;
  /** HERALD_APNS_* settings for this fake. */
  env: Record<string, string>;
  problems: string[];
  received: ApnsReceived[];
  /** Device tokens APNs answers 410 Unregistered / 400 BadDeviceToken for. */
  unregistered: Set<string>;
  bad: Set<string>;
  close(): Promise<void>;
}

export async function startApnsService(): Promise<ApnsService> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyId = 'KEY1234567';
  const teamId = 'TEAM123456';
  const topic = 'com.example.herald';
  const svc: ApnsService = {
    url: '',
    env: {},
    problems: [],
    received: [],
    unregistered: new Set(),
    bad: new Set(),
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise((ok) => server.close(ok));
    },
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', async (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((ok) => stream.on('end', ok));
    const reply = (status: number, body?: unknown, extra: Record<string, string> = {}) => {
      stream.respond({ ':status': status, ...extra });
      stream.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const path = String(headers[':path']);
    const m = /^\/3\/device\/([0-9a-f]+)$/.exec(path);
    if (headers[':method'] !== 'POST' || !m) return reply(404, { reason: 'BadPath' });
    try {
      const jwt = /^bearer (\S+)$/.exec(String(headers.authorization ?? ''))?.[1] ?? '';
      const { protectedHeader, payload } = await jwtVerify(jwt, publicKey as KeyObject, { issuer: teamId });
      if (protectedHeader.alg !== 'ES256' || protectedHeader.kid !== keyId) throw new Error('header');
      if (!payload.iat || payload.iat < Date.now() / 1000 - 3600) throw new Error('iat');
    } catch (err) {
      svc.problems.push(`provider token: ${(err as Error).message}`);
      return reply(403, { reason: 'InvalidProviderToken' });
    }
    if (headers['apns-topic'] !== topic) {
      svc.problems.push(`topic ${headers['apns-topic']}`);
      return reply(400, { reason: 'TopicDisallowed' });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApnsReceived['body'];
    svc.received.push({ headers, token: m[1], body });
    if (svc.unregistered.has(m[1])) return reply(410, { reason: 'Unregistered', timestamp: Date.now() });
    if (svc.bad.has(m[1])) return reply(400, { reason: 'BadDeviceToken' });
    reply(200, undefined, { 'apns-id': String(headers['apns-id'] ?? randomUUID()) });
  });
  svc.url = `http://127.0.0.1:${await listen(server)}`;
  svc.env = {
    HERALD_APNS_KEY: String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    HERALD_APNS_KEY_ID: keyId,
    HERALD_APNS_TEAM_ID: teamId,
    HERALD_APNS_TOPIC: topic,
    HERALD_APNS_URL: svc.url,
  };
  return svc;
}

/** An APNs-looking device token (64 hex digits). */
export function apnsToken(): string {
  return randomBytes(32).toString('hex');
}

/** An FCM-looking registration token. */
export function fcmToken(): string {
  return `${randomBytes(8).toString('base64url')}:APA91b${randomBytes(60).toString('base64url')}`;
}
