// A user's push devices (the end user's access token): register, list, get, delete, the
// per-device push log, a test push, and the VAPID key browsers subscribe with. Pushes
// themselves are the dispatcher's (src/push).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HeraldError } from '../../protocol/index.ts';
import { listPushDeliveries } from '../../push/deliveries.ts';
import { deleteDevice, getDevice, listDevices, registerDevice, toDevice } from '../../push/devices.ts';
import type { Push } from '../../push/index.ts';
import { AddressPolicy } from '../../webhooks/address-policy.ts';
import type { RouteDeps } from '../context.ts';
import { principalOf } from '../context.ts';
import { errorReplies, Id, Replies } from '../schemas.ts';

const strict = { additionalProperties: false } as const;
const B64 = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+={0,2}$' });
const RegisterBody = Type.Object(
  {
    platform: Type.Union([Type.Literal('webpush'), Type.Literal('fcm'), Type.Literal('apns')]),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    subscription: Type.Optional(
      Type.Object(
        {
          endpoint: Type.String({ minLength: 1, maxLength: 2048 }),
          keys: Type.Object({ p256dh: B64, auth: B64 }, strict),
          expirationTime: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
        },
        strict,
      ),
    ),
    locale: Type.Optional(
      Type.String({ minLength: 2, maxLength: 35, pattern: '^[A-Za-z]{2,3}([_-][A-Za-z0-9]{1,8})*$' }),
    ),
  },
  strict,
);
const DeviceParams = Type.Object({ id: Id }, strict);
const LogQuery = Type.Object(
  {
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  strict,
);

/** Seconds between two test pushes to one device. */
const TEST_INTERVAL_SEC = 5;

const fails = (status: number, meaning: string) => ({
  [status]: { ...errorReplies(status)[status], description: meaning },
});
const noDevice = fails(404, 'DEVICE_NOT_FOUND: no such device of yours');

function pushOf(push: Push | undefined): Push {
  if (!push) throw new HeraldError('NOT_READY', 'Push is not set up on this node.');
  return push;
}

export const deviceRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { db, config } = host;
  const policy = host.webhookPolicy ?? new AddressPolicy(config.webhooks.allowHosts);
  const user = { config: { auth: 'user' as const } };
  const doc = (operationId: string, summary: string) => ({ tags: ['push'], summary, operationId });

  app.post(
    '/v1/devices',
    {
      ...user,
      schema: {
        ...doc('registerDevice', 'Register a push device (the same token again: the same device)'),
        body: RegisterBody,
        response: {
          200: Replies.Device,
          201: Replies.Device,
          ...fails(
            400,
            'VALIDATION_FAILED, PUSH_ENDPOINT_REFUSED (docs/push.md#ssrf), PUSH_NOT_CONFIGURED (no credentials for the platform)',
          ),
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const push = pushOf(host.push);
      const { device, created } = await registerDevice(db, policy, p.tenant_id, p.user_id, req.body, {
        maxPerUser: config.push.maxDevicesPerUser,
        configured: (platform) => push.configured(platform),
      });
      return reply.status(created ? 201 : 200).send({ device });
    },
  );

  app.get(
    '/v1/devices',
    { ...user, schema: { ...doc('listDevices', 'Your push devices'), response: { 200: Replies.Devices } } },
    async (req) => {
      const p = principalOf(req);
      return { devices: await listDevices(db, p.tenant_id, p.user_id) };
    },
  );

  app.get(
    '/v1/devices/:id',
    {
      ...user,
      schema: {
        ...doc('getDevice', 'One of your devices (a removed one too: removed_at, removed_reason)'),
        params: DeviceParams,
        response: { 200: Replies.Device, ...noDevice },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return { device: toDevice(await getDevice(db, p.tenant_id, p.user_id, req.params.id)) };
    },
  );

  app.delete(
    '/v1/devices/:id',
    {
      ...user,
      schema: {
        ...doc('deleteDevice', 'Delete a device and its push log'),
        params: DeviceParams,
        response: { 204: Replies.Deleted, ...noDevice },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      await deleteDevice(db, p.tenant_id, p.user_id, req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/devices/:id/deliveries',
    {
      ...user,
      schema: {
        ...doc('listDeviceDeliveries', 'The device’s push log, newest first (keyset: before)'),
        params: DeviceParams,
        querystring: LogQuery,
        response: { 200: Replies.PushDeliveryPage, ...noDevice },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return listPushDeliveries(db, p.tenant_id, p.user_id, req.params.id, {
        before: req.query.before,
        limit: req.query.limit ?? 50,
      });
    },
  );

  app.post(
    '/v1/devices/:id/test',
    {
      ...user,
      schema: {
        ...doc('testDevice', 'Send a test push now; the answer is its log row'),
        params: DeviceParams,
        response: {
          200: Replies.PushDelivery,
          ...noDevice,
          ...fails(409, 'CONFLICT: the device was removed (a provider said its token is dead)'),
          ...fails(429, 'RATE_LIMITED: one test push per device every 5 s (Retry-After)'),
        },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const row = await getDevice(db, p.tenant_id, p.user_id, req.params.id);
      if (row.removed_at)
        throw new HeraldError('CONFLICT', `The device was removed: ${row.removed_reason ?? 'dead token'}.`);
      // One test per device per few seconds: a button pressed repeatedly must not hammer the provider.
      const { rows: recent } = await db.query<{ wait: number }>(
        `SELECT CEIL(EXTRACT(EPOCH FROM (max(created_at) + $3::int * interval '1 second' - now())))::int AS wait
           FROM push_deliveries WHERE tenant_id = $1 AND device_id = $2 AND kind = 'test'
          HAVING max(created_at) > now() - $3::int * interval '1 second'`,
        [p.tenant_id, req.params.id, TEST_INTERVAL_SEC],
      );
      if (recent[0])
        throw new HeraldError('RATE_LIMITED', `One test push per device every ${TEST_INTERVAL_SEC} s.`, {
          retryAfter: Math.max(1, Number(recent[0].wait)),
        });
      return { delivery: await pushOf(host.push).dispatcher.sendTest(p.tenant_id, p.user_id, req.params.id) };
    },
  );

  app.get(
    '/v1/push/vapid-key',
    {
      ...user,
      schema: {
        ...doc('getVapidKey', 'The Web Push (VAPID) public key to subscribe with'),
        response: { 200: Replies.VapidKey },
      },
    },
    async () => ({ public_key: pushOf(host.push).vapidPublicKey }),
  );
};
