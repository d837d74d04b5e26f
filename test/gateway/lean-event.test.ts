// The lean `event` frame: what a socket receives leaves out what the frame and the
// connection already say and the defaults, is far smaller than the stored event, and the
// SDK's expandEvent restores exactly the stored event — live and replayed, created and edited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandEvent } from '../../src/client/wire.ts';
import { execute } from '../../src/domain/commands.ts';
import { editMessage } from '../../src/domain/edits.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { aliceBobGroup, connect, type Node, published, startNode, subscribe, until } from './harness.ts';

describe.each(backends())('lean event frames (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db);
  });
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  const stored = async (tenant: string, conversation: string, seq: number) => {
    const { rows } = await store.db.query<{ payload: string }>(
      'SELECT payload::text AS payload FROM events WHERE tenant_id = $1 AND conversation_id = $2 AND seq = $3',
      [tenant, conversation, seq],
    );
    return JSON.parse(rows[0].payload);
  };

  it('live and replayed frames are lean and expand to the stored event', async () => {
    const { tenant, id } = await group();
    const bob = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(bob, id);
    const raw: string[] = [];
    bob.ws.on('message', (d) => {
      const text = d.toString();
      if (text.startsWith('{"type":"event"')) raw.push(text);
    });
    const { message } = await execute(node.herald.deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'see you at the station at six', client_id: 'k-1' },
    });
    await editMessage(node.herald.deps, tenant, 'alice', id, message.id, 'see you at seven');
    await published(store.db, tenant);
    await until(() => raw.length >= 2, 'the created and edited events');

    const created = JSON.parse(raw[0]);
    expect(created).toEqual({
      type: 'event',
      conversation: id,
      seq: message.seq,
      event: {
        type: 'message.created',
        message: {
          id: message.id,
          kind: 'group',
          sender: { type: 'user', user_id: 'alice' },
          body: 'see you at the station at six',
          client_id: 'k-1',
          created_at: message.created_at,
        },
      },
    });
    // What every socket got before: the outbox row as the bus carries it (jsonb text).
    const { rows } = await store.db.query<{ payload: string }>(
      `SELECT payload::text AS payload FROM outbox
        WHERE tenant_id = $1 AND payload->>'type' = 'event' AND (payload->>'seq')::int = $2
          AND payload->>'conversation' = $3`,
      [tenant, message.seq, id],
    );
    expect(Buffer.byteLength(raw[0])).toBeLessThan(0.6 * Buffer.byteLength(rows[0].payload));

    // An edit is an event with its own seq: the message keeps its own seq.
    const edited = JSON.parse(raw[1]);
    expect(edited.seq).toBe(message.seq + 1);
    expect(edited.event.message).toMatchObject({ seq: message.seq, edited_at: expect.any(String) });
    expect(edited.event.message).not.toHaveProperty('tenant_id');

    for (const f of [created, edited])
      expect(expandEvent(f.event, tenant, id, f.seq)).toEqual(await stored(tenant, id, f.seq));

    // Replay sends the same lean bytes as live.
    const late = await connect(node, await node.token(tenant, 'bob'));
    const replayed: string[] = [];
    late.ws.on('message', (d) => {
      const text = d.toString();
      if (text.startsWith('{"type":"event"')) replayed.push(text);
    });
    await subscribe(late, id, message.seq - 1);
    await until(() => replayed.length === 2, 'the replay');
    expect(replayed).toEqual(raw.slice(0, 2));
    bob.close();
    late.close();
  });

  const group = () => aliceBobGroup(node);
});
