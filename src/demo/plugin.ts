// The demo chat page, served when config.demo is on: GET / (the page),
// /demo/app.js (src/demo/main.ts and the SDK, bundled for the browser) and
// /demo/style.css. The page talks to Herald through the SDK only, like any
// host application would: it imports `@herald/client` by package name.
// esbuild bundles it in memory, once per process, when the plugin is
// registered, resolving the package to its source through tsconfig.json's
// `paths` — no build step between a clone and the page.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../api/context.ts';

const file = (name: string) => fileURLToPath(new URL(name, import.meta.url));

let bundled: Promise<string> | null = null;

/** The browser bundle of src/demo/main.ts (cached; a failed build is retried next time). */
export function demoBundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [file('./main.ts')],
    tsconfig: file('../../tsconfig.json'),
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
  }).then(
    (result) => result.outputFiles[0].text,
    (err: unknown) => {
      bundled = null;
      throw err;
    },
  );
  return bundled;
}

/**
 * Registers the demo page routes (register it when config.demo is on). Hidden from /openapi.json:
 * they are not part of the API.
 */
export async function demoPlugin(app: App): Promise<void> {
  const [script, html, css] = await Promise.all([
    demoBundle(),
    readFile(file('./index.html'), 'utf8'),
    readFile(file('./style.css'), 'utf8'),
  ]);
  const hidden = { schema: { hide: true } } as const;
  const send = (type: string, body: string) => async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.header('content-type', type).header('cache-control', 'no-cache').send(body);
  app.get('/', hidden, send('text/html; charset=utf-8', html));
  app.get('/demo/app.js', hidden, send('text/javascript; charset=utf-8', script));
  app.get('/demo/style.css', hidden, send('text/css; charset=utf-8', css));
  const sw = await readFile(file('./push-sw.js'), 'utf8'); // Web Push: src/demo/push.ts
  app.get('/demo/push-sw.js', hidden, send('text/javascript; charset=utf-8', sw));
}
