// @herald/client and @herald/react as a newcomer gets them: packed, installed
// into a scratch app outside the repository (see newcomer.ts), imported by
// package name. The app's script chats against a real listening node with
// nothing but the package (tokens from the tenant's API key, a direct
// conversation, a send, live delivery, unread and read); the app type-checks
// with the packages' declarations, every ts/tsx block of docs/sdk.md and
// docs/react.md compiles in it, and a wrong call does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { codeBlocks, createScratchApp, type ScratchApp } from './newcomer.ts';

// What a newcomer writes after reading docs/sdk.md: Node 20, so `ws` for the socket.
const CHAT = `import { HeraldClient, HeraldClientError, type Message } from '@herald/client';
import WebSocket from 'ws';

const url = process.env.HERALD_URL ?? '';
const apiKey = process.env.HERALD_API_KEY ?? '';

// The tenant's backend mints a user's token with its API key (POST /v1/tokens).
async function tokenFor(user: string): Promise<string> {
  const res = await fetch(\`\${url}/v1/tokens\`, {
    method: 'POST',
    headers: { authorization: \`Bearer \${apiKey}\`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: user }),
  });
  if (!res.ok) throw new Error(\`POST /v1/tokens: \${res.status}\`);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function connect(user: string): Promise<HeraldClient> {
  const herald = new HeraldClient({ url, token: await tokenFor(user), getToken: () => tokenFor(user), WebSocket });
  herald.connect();
  await herald.ready();
  return herald;
}

function until(check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() - started > 10_000) return reject(new Error(\`timed out waiting for \${what}\`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

const alice = await connect('alice');
const bob = await connect('bob');
const { conversation } = await alice.http.direct('bob');

const seen: Message[] = [];
const room = bob.open(conversation.id, { sinceSeq: 0 });
room.on('event', ({ event }) => {
  if (event.type === 'message.created') seen.push(event.message);
});

const out = alice.send(conversation.id, 'hello from a newcomer');
const sent = await out.done;
await until(() => seen.some((m) => m.id === sent.message_id), 'live delivery to bob');
await until(() => bob.inbox.get(conversation.id)?.unread_count === 1, "bob's unread count");
const unreadBefore = bob.inbox.get(conversation.id)?.unread_count;
bob.read(conversation.id, sent.seq);
await until(() => bob.inbox.get(conversation.id)?.unread_count === 0, 'the read marker');

let refused: string | null = null;
try {
  await alice.send(conversation.id, '').done;
} catch (err) {
  refused = err instanceof HeraldClientError ? err.code : \`not a HeraldClientError: \${String(err)}\`;
}

console.log(JSON.stringify({
  status: out.status,
  seq: sent.seq,
  received: seen.map((m) => ({ sender: m.sender, body: m.body, client_id: m.client_id })),
  clientId: out.client_id,
  unreadBefore,
  unreadAfter: bob.inbox.get(conversation.id)?.unread_count,
  refused,
}));
alice.disconnect();
bob.disconnect();
`;

// The app's own functions and values the docs' examples call (everything that is not Herald).
const DOC_AMBIENT = `declare global {
  const initialAccessToken: string;
  const myBackend: { refreshHeraldToken(reason: string): Promise<{ access_token: string }> };
  const savedLastSeq: number;
  const noticeId: string;
  const currentUserId: string;
  const input: HTMLInputElement;
  function render(event: import('@herald/client').ConversationEvent): void;
  function renderList(list: import('@herald/client').InboxEntry[], totals: unknown): void;
  function renderNotices(list: import('@herald/client').Notice[], unread: number): void;
  function renderTimeline(
    messages: import('@herald/client').Message[],
    pending: import('@herald/client').OutgoingMessage[],
  ): void;
  function toast(text: string): void;
  function report(code: string, err: Error): void;
  function showPending(clientId: string, body: string): void;
  function markSent(clientId: string, seq: number): void;
  function markFailed(clientId: string, code: string): void;
}
export {};
`;

describe('the packages as a newcomer installs them', { timeout: 120_000 }, () => {
  let app: ScratchApp;
  let t: TestHerald;

  beforeAll(async () => {
    [app, t] = await Promise.all([createScratchApp(), startTestHerald({ listen: true })]);
  }, 240_000);
  afterAll(async () => {
    await t?.close();
    await app?.remove();
  });

  it('packs only the built files: an ESM bundle, its source map, declarations, README and package.json', () => {
    for (const [name, files] of Object.entries(app.tarballs)) {
      expect(files, name).toContain('package.json');
      expect(files, name).toContain('dist/index.js');
      expect(
        files.filter((f) => !/^(dist\/.*\.(js|js\.map|d\.ts)|package\.json|README\.md)$/.test(f)),
        name,
      ).toEqual([]);
    }
    expect(app.tarballs['herald-client-0.1.0.tgz']).toContain('dist/types/client/index.d.ts');
    expect(app.tarballs['herald-react-0.1.0.tgz']).toContain('dist/types/index.d.ts');
  });

  it('type-checks and runs a chat by package name against a real node', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    await app.write('src/chat.ts', CHAT);
    const tsc = await app.tsc('-p', '.');
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);

    const ran = await app.node('dist/chat.js', { HERALD_URL: t.url as string, HERALD_API_KEY: api_key });
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const result = JSON.parse(ran.stdout);
    expect(result).toMatchObject({
      status: 'confirmed',
      unreadBefore: 1,
      unreadAfter: 0,
      refused: 'EMPTY_BODY',
    });
    expect(result.received).toEqual([
      {
        sender: { type: 'user', user_id: 'alice' },
        body: 'hello from a newcomer',
        client_id: result.clientId,
      },
    ]);
    // The node agrees: the one message, in the tenant the API key belongs to.
    const bob = await t.mintUser(tenant_id, 'bob');
    const inbox = await t.call<{
      entries: { last_message: { body: string } | null; unread_count: number }[];
    }>({
      method: 'GET',
      url: '/v1/inbox',
      headers: t.bearer(bob),
    });
    expect(inbox.body.entries.map((e) => [e.last_message?.body, e.unread_count])).toEqual([
      ['hello from a newcomer', 0],
    ]);
  });

  it('compiles every ts/tsx block of docs/sdk.md and docs/react.md', async () => {
    await app.write('src/doc-ambient.d.ts', DOC_AMBIENT);
    const files: string[] = [];
    for (const doc of ['docs/sdk.md', 'docs/react.md']) {
      const blocks = await codeBlocks(doc);
      expect(blocks.length, doc).toBeGreaterThan(0);
      for (const b of blocks) {
        const name = `src/doc-${doc.replace(/\W+/g, '-')}-${b.line}.${b.lang}`;
        // A block without imports is still its own module (no name clashes between blocks).
        await app.write(name, `${b.code}\nexport {};\n`);
        files.push(name);
      }
    }
    const tsc = await app.tsc('-p', '.', '--noEmit');
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('rejects what the declarations do not allow, and deep imports the exports map does not list', async () => {
    await app.write(
      'src/wrong.ts',
      `import { HeraldClient } from '@herald/client';
const herald = new HeraldClient({ url: 'http://localhost:8080' });
herald.send('conv-1', 42);
herald.on('stat', () => {});
`,
    );
    const tsc = await app.tsc('-p', '.', '--noEmit');
    expect(tsc.code).not.toBe(0);
    expect(tsc.stdout).toMatch(/src\/wrong\.ts\(3,.*TS2345/);
    expect(tsc.stdout).toMatch(/src\/wrong\.ts\(4,.*TS2345/);
    await app.write('src/wrong.ts', 'export {};\n');

    await app.write('deep.mjs', "await import('@herald/client/dist/index.js');\n");
    const deep = await app.node('deep.mjs');
    expect(deep.code).not.toBe(0);
    expect(deep.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});
