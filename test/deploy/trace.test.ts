// One trace id end to end across two real `herald serve` processes on PostgreSQL + Redis:
// a message sent to the API node (api,relay) with a W3C traceparent reaches a client of
// the gateway node in an `event` frame carrying that trace id, and the id is in the log
// lines of both nodes (the request and the relay's publish on one, the delivery on the other).
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Served, subscribe } from '../gateway/harness.ts';
import { waitFor } from '../support/redis.ts';
import { clusterEnabled, type Deployment, deployment, http, tenant } from './nodes.ts';

/** The JSON log lines of a node's output. */
function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

describe.runIf(clusterEnabled)('a trace id across two nodes', () => {
  let d: Deployment | null = null;
  afterAll(async () => {
    await d?.cleanup();
  });

  it('traceparent on node A → outbox → Redis → frame on node B, and in both nodes’ logs', async () => {
    d = await deployment({ LOG_LEVEL: 'debug' });
    const api = await d.start({ HERALD_ROLES: 'api,relay' });
    const gw = await d.start({ HERALD_ROLES: 'gateway' });
    const t = await tenant(d, api.url);
    const alice = await t.token('alice');
    const bob = await t.token('bob');
    const { conversation } = await http<{ conversation: { id: string } }>(
      api.url,
      'POST',
      '/v1/conversations',
      alice,
      { kind: 'group', title: 'traced', members: ['bob'] },
    );
    const b = await connect({ url: gw.wsUrl } as Served, bob);
    await subscribe(b, conversation.id);

    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await fetch(`${api.url}/v1/conversations/${conversation.id}/messages`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${alice}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-b7ad6b7169203331-01`,
      },
      body: JSON.stringify({ body: 'follow me' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-trace-id')).toBe(traceId);
    const { message } = (await res.json()) as { message: { seq: number } };

    const event = await b.next('event', (f) => f.conversation === conversation.id && f.seq === message.seq);
    expect(event.trace).toBe(traceId);
    expect(event.event.message.body).toBe('follow me');
    // bob's inbox frame of the same send carries it too.
    const inbox = await b.next(
      'inbox',
      (f) => f.entry.conversation_id === conversation.id && f.trace === traceId,
    );
    expect(inbox.entry.unread_count).toBe(1);

    const traced = (output: string) => logLines(output).filter((l) => l.trace_id === traceId);
    await waitFor(
      () => traced(api.output()).some((l) => l.msg === 'relay published'),
      10_000,
      'the relay line',
    );
    // The request line is written when the response has finished on the server's side, which on
    // a loaded machine can come after the client has read the answer and the frames.
    await waitFor(() => traced(api.output()).some((l) => l.msg === 'request'), 10_000, 'the request line');
    // Each frame's line is written after its write to the socket: the inbox frame's can come
    // after the client read both frames.
    const deliveredTypes = () =>
      new Set(
        traced(gw.output())
          .filter((l) => l.msg === 'frame delivered')
          .map((l) => l.type),
      );
    await waitFor(
      () => deliveredTypes().has('event') && deliveredTypes().has('inbox'),
      10_000,
      'the delivery lines',
    );
    const onApi = traced(api.output());
    expect(onApi.map((l) => l.msg)).toEqual(expect.arrayContaining(['request', 'relay published']));
    expect(onApi.find((l) => l.msg === 'request')).toMatchObject({ method: 'POST', status: 201 });
    const delivered = traced(gw.output()).filter((l) => l.msg === 'frame delivered');
    expect(delivered).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'event', seq: message.seq, listeners: 1 }),
        expect.objectContaining({ type: 'inbox', listeners: 1 }),
      ]),
    );
    // The gateway node never handled the request; the API node delivered nothing.
    expect(traced(gw.output()).some((l) => l.msg === 'request')).toBe(false);
    expect(onApi.some((l) => l.msg === 'frame delivered')).toBe(false);
    b.close();
  }, 120_000);
});
