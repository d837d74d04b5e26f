import { type TSchema, Type } from 'typebox';
import { strict } from '../protocol/schema.ts';
import { PUSH_STATUSES } from '../push/deliveries.ts';
import { PUSH_PLATFORMS } from '../push/devices.ts';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.ts';

// The response shapes of the tenant backend's integrations (webhooks, push devices), registered
// as components with the others (responses.ts, sharedSchemas).

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
const Timestamp = Type.String({ description: 'ISO 8601 timestamp' });
const Int = Type.Integer({ minimum: 0 });
const enumOf = (values: readonly string[]) => Type.Enum([...values], { type: 'string' });

// The webhook wire shapes of src/webhooks/endpoints.ts (WebhookEndpoint) and deliveries.ts (Delivery).
const WebhookEventTypeSchema = enumOf(WEBHOOK_EVENT_TYPES);
export const WebhookEndpointSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    events: Type.Array(WebhookEventTypeSchema),
    conversation: Nullable(Type.String({ description: 'Only this conversation’s events; null: all.' })),
    enabled: Type.Boolean(),
    disabled_reason: Nullable(
      Type.Union([Type.Literal('manual'), Type.Literal('failing')], {
        description: 'manual: PATCH enabled false; failing: disabled after a dead letter.',
      }),
    ),
    disabled_at: Nullable(Timestamp),
    failing_since: Nullable(Timestamp),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { ...strict, $id: 'WebhookEndpoint', description: 'A webhook endpoint (never its secret).' },
);
export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'Decimal; keyset of the delivery log (`before`, replay `since`).' }),
    webhook_id: Type.String({ description: 'The `webhook-id` header: the same on retries and replays.' }),
    type: WebhookEventTypeSchema,
    status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')]),
    conversation: Nullable(Type.String()),
    seq: Nullable(Int),
    attempts: Int,
    last_attempt_at: Nullable(Timestamp),
    last_status_code: Nullable(
      Type.Integer({ description: 'Null when no response arrived (last_error says why).' }),
    ),
    last_error: Nullable(Type.String()),
    last_latency_ms: Nullable(Int),
    next_attempt_at: Nullable(Type.String({ description: 'ISO 8601 timestamp; set only while pending.' })),
    delivered_at: Nullable(Timestamp),
    replay_of: Nullable(Type.String({ description: 'A replayed copy: the id of the original.' })),
    created_at: Timestamp,
  },
  { ...strict, $id: 'WebhookDelivery', description: 'One event for one endpoint, in its delivery log.' },
);
// The push wire shapes of src/push/devices.ts (Device) and deliveries.ts (PushDelivery).
export const DeviceSchema = Type.Object(
  {
    id: Type.String(),
    platform: enumOf(PUSH_PLATFORMS),
    token: Type.String({ description: 'The FCM / APNs token, or the Web Push endpoint.' }),
    locale: Nullable(Type.String()),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_sent_at: Nullable(Timestamp),
    removed_at: Nullable(
      Type.String({ description: 'ISO 8601; set when a provider said the token is dead.' }),
    ),
    removed_reason: Nullable(Type.String()),
  },
  { ...strict, $id: 'Device', description: 'A push device of the calling user.' },
);
export const PushDeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'Decimal; keyset of the log (`before`).' }),
    push_id: Type.String({ description: 'Stable across retries (APNs apns-id, `push_id` in payloads).' }),
    kind: Type.Union([Type.Literal('message'), Type.Literal('test')]),
    status: enumOf(PUSH_STATUSES),
    reason: Nullable(
      Type.String({
        description:
          'skipped: muted, online, read, device_removed; failed / invalid_token: the provider’s reason.',
      }),
    ),
    conversation: Nullable(Type.String()),
    thread_root: Nullable(Type.String({ description: 'A thread push: the root of its thread.' })),
    first_seq: Nullable(Int),
    last_seq: Nullable(Int),
    attempts: Int,
    provider_status: Nullable(Type.Integer({ description: 'HTTP status of the last attempt.' })),
    provider_response: Nullable(Type.String()),
    latency_ms: Nullable(Int),
    next_attempt_at: Nullable(Type.String({ description: 'ISO 8601 timestamp; set only while pending.' })),
    created_at: Timestamp,
    finished_at: Nullable(Timestamp),
  },
  { ...strict, $id: 'PushDelivery', description: 'One push (or skip) for one device, in its delivery log.' },
);
