// Push settings are read and checked once, at start: a bad one names itself.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const pem = (type: 'rsa' | 'ec') =>
  String(
    (type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' })
    ).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );

describe('push configuration', () => {
  it('has the documented defaults: Web Push only, 10 s delay, mentions at once', () => {
    const c = loadConfig({}).push;
    expect(c).toMatchObject({
      delayMs: 10_000,
      mentionDelayMs: 0,
      retryWindowSec: 900,
      ttlSec: 86_400,
      maxDevicesPerUser: 10,
      showBody: true,
      fcm: null,
      apns: null,
      vapid: { publicKey: null, privateKey: null, subject: 'mailto:push@herald.invalid' },
    });
  });

  it('reads FCM and APNs credentials inline or from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-push-config-'));
    const sa = { project_id: 'p', client_email: 'e@p.iam', private_key: pem('rsa') };
    writeFileSync(join(dir, 'sa.json'), JSON.stringify(sa));
    writeFileSync(join(dir, 'key.p8'), pem('ec'));
    const apns = { HERALD_APNS_KEY_ID: 'K', HERALD_APNS_TEAM_ID: 'T', HERALD_APNS_TOPIC: 'com.x' };
    const fromFile = loadConfig({
      HERALD_FCM_SERVICE_ACCOUNT: join(dir, 'sa.json'),
      HERALD_APNS_KEY: join(dir, 'key.p8'),
      ...apns,
    }).push;
    expect(fromFile.fcm).toMatchObject({
      projectId: 'p',
      clientEmail: 'e@p.iam',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      sendUrl: 'https://fcm.googleapis.com',
    });
    expect(fromFile.apns).toMatchObject({
      keyId: 'K',
      teamId: 'T',
      topic: 'com.x',
      url: 'https://api.push.apple.com',
    });
    const inline = loadConfig({ HERALD_FCM_SERVICE_ACCOUNT: JSON.stringify(sa) }).push;
    expect(inline.fcm?.privateKey).toBe(sa.private_key);
  });

  it.each([
    [{ HERALD_VAPID_SUBJECT: 'ops@example.com' }, /HERALD_VAPID_SUBJECT/],
    [{ HERALD_VAPID_PUBLIC_KEY: 'abc' }, /HERALD_VAPID_PRIVATE_KEY/],
    [{ HERALD_FCM_SERVICE_ACCOUNT: '{not json' }, /HERALD_FCM_SERVICE_ACCOUNT/],
    [{ HERALD_FCM_SERVICE_ACCOUNT: '{"project_id":"p"}' }, /lacks client_email/],
    [{ HERALD_FCM_SERVICE_ACCOUNT: '/nonexistent/sa.json' }, /cannot read/],
    [{ HERALD_APNS_KEY: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----' }, /HERALD_APNS_KEY_ID/],
    [{ HERALD_PUSH_DELAY_MS: '-1' }, /HERALD_PUSH_DELAY_MS/],
    [{ HERALD_PUSH_SHOW_BODY: 'maybe' }, /HERALD_PUSH_SHOW_BODY/],
    [
      {
        HERALD_FCM_SERVICE_ACCOUNT: '{"project_id":"p","client_email":"e","private_key":"k"}',
        HERALD_FCM_URL: 'ftp://x',
      },
      /HERALD_FCM_URL/,
    ],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env as Record<string, string>)).toThrow(ConfigError);
    expect(() => loadConfig(env as Record<string, string>)).toThrow(message);
  });
});
