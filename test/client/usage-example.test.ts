// docs/sdk.md's usage example, run against the fake server, so the example
// keeps compiling and doing what it says.
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HeraldClient, type InboxEntry, type Message } from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';

let server: FakeServer;
let herald: HeraldClient | null = null;
afterEach(async () => {
  herald?.disconnect();
  await server.close();
});

it('the usage example works', async () => {
  server = await FakeServer.start();
  server.append('conv-42', 'earlier');
  server.setInbox('conv-42', { unread_count: 1, last_seq: 1 });
  const rendered: string[] = [];
  const list: InboxEntry[][] = [];
  const sent: number[] = [];
  const render = (m: Message) => rendered.push(m.body);
  const savedLastSeq = 0;

  herald = new HeraldClient({
    url: server.url,
    token: 'tok-1',
    getToken: async () => 'tok-2',
    deviceId: 'device-1',
    WebSocket,
  });
  herald.on('error', (err) => {
    throw err;
  });
  const room = herald.open('conv-42', { sinceSeq: savedLastSeq });
  room.on('event', ({ event }) => {
    if (event.type === 'message.created') render(event.message);
  });
  herald.inbox.on('change', () => list.push(herald?.inbox.list() ?? []));
  herald.connect();

  herald.view('conv-42');
  const out = herald.send('conv-42', 'hello', { mentions: ['u-7'] });
  out.done.then((m) => sent.push(m.seq));
  herald.typing('conv-42');
  await waitFor(
    () => sent.length === 1 && rendered.length === 2 && herald?.inbox.synced === true,
    'example done',
  );
  herald.read('conv-42', room.lastSeq ?? 0);

  expect(rendered).toEqual(['earlier', 'hello']);
  expect(sent).toEqual([2]);
  expect(list.at(-1)?.[0]).toMatchObject({ conversation_id: 'conv-42', last_read_seq: 2 });
  expect(server.last.framesOf('view')).toEqual([{ type: 'view', conversation: 'conv-42' }]);
});
