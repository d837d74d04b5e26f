// The `ws` limit reference (the bench's "`ws` limit" column). One process,
// a plain `ws` server with one room (every socket); POST /send builds the
// same `event` frame shape Herald sends and, with ?once=1 (what the bench
// uses), serializes it once and sends that string to every socket — DESIGN
// §12's "ws alone"; without it, `socket.send(JSON.stringify(frame))` per socket.
// No store, no auth, no replay: a client that reconnects resumes live only.
// Started by the bench with fork(); reports {type:'listening', port} over IPC.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

const conversation = randomUUID();
const tenant = 'bench';
const sockets = new Set<WebSocket>();
let seq = 0;

function frameFor(body: string, clientId: string) {
  seq++;
  const at = new Date().toISOString();
  return {
    type: 'event',
    conversation,
    seq,
    event: {
      type: 'message.created',
      message: {
        id: randomUUID(),
        tenant_id: tenant,
        conversation_id: conversation,
        seq,
        kind: 'channel',
        sender: { type: 'user', user_id: 'sender' },
        body,
        reply_to: null,
        mentions: [],
        attachments: [],
        client_id: clientId,
        data: null,
        created_at: at,
        edited_at: null,
        deleted_at: null,
      },
    },
  };
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || !req.url?.startsWith('/send')) {
    res.writeHead(404).end();
    return;
  }
  const once = req.url.includes('once=1');
  let raw = '';
  req.on('data', (d) => (raw += d));
  req.on('end', () => {
    const { body, client_id } = JSON.parse(raw) as { body: string; client_id: string };
    const frame = frameFor(body, client_id);
    if (once) {
      const text = JSON.stringify(frame);
      for (const ws of sockets) ws.send(text);
    } else {
      for (const ws of sockets) ws.send(JSON.stringify(frame));
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ message: { seq } }));
  });
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  sockets.add(ws);
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => {});
  ws.on('message', () => {}); // subscribe/heartbeat frames are ignored: one room, live only
});

server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.send?.({ type: 'listening', port: typeof addr === 'object' && addr ? addr.port : 0 });
});
