// What the relay adds to each frame it publishes: `_meta` with the trace the row carries
// (`tp`, a traceparent — the publish span's when export is on) and the publish time (`pub`,
// ms since the epoch, for the gateways' publish → send histogram). Appended as the last key
// of the payload's JSON object, so a gateway takes it off again without re-serializing
// (src/gateway/topic-hub.ts): clients see `trace` (the trace id) instead.
import type { BusMessage } from '../bus/port.ts';
import type { SpanHandle, Tracing } from '../tracing/tracer.ts';

export interface RelayMeta {
  tp?: string;
  pub: number;
}

/** The key the relay appends; a gateway finds it as the payload's last key. */
export const META_KEY = ', "_meta": ';

export function stampRow(
  row: { topic: string; payload: string; trace_id?: string | null },
  tracing: Tracing,
  now: number,
): { message: BusMessage; span: SpanHandle | null } {
  const span = row.trace_id
    ? tracing.start('herald.publish', row.trace_id, {
        kind: 'producer',
        attributes: { 'messaging.system': 'herald', 'messaging.destination.name': row.topic },
      })
    : null;
  const meta: RelayMeta = { pub: now };
  const tp = span?.traceparent ?? row.trace_id;
  if (tp) meta.tp = tp;
  const p = row.payload;
  // A JSON object from the store (jsonb text): `{...}`. Anything else goes out untouched.
  const payload =
    p.length > 2 && p.endsWith('}') ? `${p.slice(0, -1)}${META_KEY}${JSON.stringify(meta)}}` : p;
  return { message: { topic: row.topic, payload }, span };
}
