// /openapi.json as a tenant backend uses it: served by a live node, linted by
// the `redocly lint` CLI (redocly.yaml), turned into TypeScript types by the
// `openapi-typescript` CLI (the tools/openapi-gen workspace: it needs
// TypeScript 5's compiler API), and driven through a typed `openapi-fetch`
// client that is type-checked by the repository's tsc and then run against
// the same node: tokens with the API key, a group, a send with an
// Idempotency-Key (and its repeat), history, and a refused call whose error
// body is the catalog's.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  return new Promise<{ code: number; out: string; stdout: string }>((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}`, stdout: String(stdout) });
      },
    );
  });
}

// What a tenant backend writes with the generated types. The @ts-expect-error lines fail the
// type-check if the generated types are too loose to catch them (an `any` would accept both).
const BACKEND = `import createClient from 'openapi-fetch';
import type { components, paths } from './herald-api.ts';

type Message = components['schemas']['Message'];

const herald = createClient<paths>({ baseUrl: process.env.HERALD_URL });
const apiKey = { authorization: \`Bearer \${process.env.HERALD_API_KEY}\` };

async function tokenFor(user_id: string): Promise<string> {
  const { data, error } = await herald.POST('/v1/tokens', { headers: apiKey, body: { user_id } });
  if (error) throw new Error(\`POST /v1/tokens: \${error.error.code}\`);
  return data.access_token;
}

const alice = { authorization: \`Bearer \${await tokenFor('alice')}\` };
await tokenFor('bob'); // registers bob in the tenant

const created = await herald.POST('/v1/conversations', {
  headers: alice,
  body: { kind: 'group', title: 'Typed', members: ['bob'] },
});
if (!created.data) throw new Error(\`create: \${created.error?.error.code}\`);
const conversation: string = created.data.conversation.id;

const send = () =>
  herald.POST('/v1/conversations/{id}/messages', {
    params: { path: { id: conversation }, header: { 'idempotency-key': 'typed-1' } },
    headers: alice,
    body: { body: 'hello, typed', mentions: ['bob'] },
  });
const first = await send();
const again = await send();
if (!first.data || !again.data) throw new Error('send failed');
const sent: Message = first.data.message;

const history = await herald.GET('/v1/conversations/{id}/messages', {
  params: { path: { id: conversation }, query: { limit: 10 } },
  headers: alice,
});
if (!history.data) throw new Error('history failed');
const seqs: number[] = history.data.messages.map((m) => m.seq);

const refused = await herald.POST('/v1/conversations', {
  headers: alice,
  body: { kind: 'group', title: 'Nobody', members: ['no-such-user'] },
});

// @ts-expect-error: body must be a string
void herald.POST('/v1/conversations/{id}/messages', { params: { path: { id: conversation } }, body: { body: 42 } });
// @ts-expect-error: there is no such field on a message
void sent.no_such_field;

console.log(JSON.stringify({
  statuses: [created.response.status, first.response.status, again.response.status, history.response.status],
  sameMessage: again.data.message.id === sent.id,
  sent: { body: sent.body, client_id: sent.client_id, mentions: sent.mentions, sender: sent.sender },
  bodies: history.data.messages.map((m) => m.body),
  seqs,
  hasMore: history.data.has_more,
  refused: { status: refused.response.status, code: refused.error?.error.code },
}));
`;

describe('a typed tenant-backend client generated from /openapi.json', { timeout: 120_000 }, () => {
  let t: TestHerald;
  let dir: string;
  let spec: string;

  beforeAll(async () => {
    t = await startTestHerald({ listen: true });
    dir = await mkdtemp(join(tmpdir(), 'herald-openapi-'));
    // The scratch files resolve packages (openapi-fetch, its helpers) from the repository.
    await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    spec = join(dir, 'openapi.json');
    await writeFile(spec, await (await fetch(`${t.url}/openapi.json`)).text());
  });
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is clean under `redocly lint` (recommended rules, redocly.yaml)', async () => {
    const lint = await run(
      process.execPath,
      [
        join(root, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js'),
        'lint',
        spec,
        '--config',
        join(root, 'redocly.yaml'),
        '--format',
        'json',
      ],
      // Offline and quiet: no telemetry, no update check.
      { cwd: dir, env: { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
    );
    expect(lint.code, lint.out).toBe(0);
    // stdout is the JSON report; stderr may add the CLI's banners (e.g. its Node 20 notice).
    const report = JSON.parse(lint.stdout) as { totals: Record<string, number>; problems: unknown[] };
    expect(report.problems).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
  });

  it('generates types with openapi-typescript, type-checks a backend against them and runs it on the node', async () => {
    const gen = await run(
      process.execPath,
      [
        join(root, 'tools', 'openapi-gen', 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
        `${t.url}/openapi.json`,
        '-o',
        join(dir, 'herald-api.ts'),
      ],
      { cwd: dir },
    );
    expect(gen.code, gen.out).toBe(0);

    await writeFile(join(dir, 'backend.ts'), BACKEND);
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          lib: ['ES2022', 'DOM'],
          types: ['node'],
        },
        files: ['backend.ts'],
      }),
    );
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    const tsc = await run(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
      {
        cwd: dir,
      },
    );
    expect(tsc.out).toBe('');
    expect(tsc.code).toBe(0);

    const { api_key } = await t.createTenant();
    const ran = await run(process.execPath, ['--import', 'tsx', join(dir, 'backend.ts')], {
      cwd: dir,
      env: { HERALD_URL: t.url as string, HERALD_API_KEY: api_key },
    });
    expect(ran.code, ran.out).toBe(0);
    const result = JSON.parse(ran.out);
    expect(result).toEqual({
      statuses: [201, 201, 200, 200],
      sameMessage: true,
      sent: {
        body: 'hello, typed',
        client_id: 'typed-1',
        mentions: ['bob'],
        sender: { type: 'user', user_id: 'alice' },
      },
      bodies: ['Conversation "Typed" created', 'hello, typed'],
      seqs: [1, 2],
      hasMore: false,
      refused: { status: 404, code: 'USER_NOT_FOUND' },
    });
  });
});
