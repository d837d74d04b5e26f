// Builds a library package for publishing: one ESM bundle (esbuild) and its
// type declarations (tsc). Run by each package's `build` script (and so by
// `npm pack`, through `prepack`):  node --import tsx ../build.ts <client|react>
//
// @herald/client is bundled from src/client and the src/protocol files it
// imports (the protocol is shared with the server, so it stays where both
// import it); @herald/react from packages/react/src, with react and
// @herald/client left as imports (peer dependencies: one copy in the app).
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

interface Target {
  entry: string;
  external: string[];
  /** tsconfig that emits the declarations into dist/types. */
  tsconfig: string;
}

const TARGETS: Record<string, Target> = {
  client: {
    entry: join(root, 'src', 'client', 'index.ts'),
    external: [],
    tsconfig: join(here, 'client', 'tsconfig.build.json'),
  },
  react: {
    entry: join(here, 'react', 'src', 'index.ts'),
    external: ['react', 'react/jsx-runtime', '@herald/client'],
    tsconfig: join(here, 'react', 'tsconfig.build.json'),
  },
};

/** Relative `.ts` specifiers in emitted declarations become `.js` (what the files are called once built). */
export function rewriteSpecifiers(dts: string): string {
  return dts.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)\.tsx?(['"])/g, '$1$2.js$3');
}

async function declarationFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.d.ts')).map((e) => join(e.parentPath, e.name));
}

async function main(name: string | undefined): Promise<void> {
  const target = name ? TARGETS[name] : undefined;
  if (!name || !target) throw new Error(`usage: build.ts <${Object.keys(TARGETS).join('|')}>`);
  const dist = join(here, name, 'dist');
  await rm(dist, { recursive: true, force: true });

  await build({
    entryPoints: [target.entry],
    outfile: join(dist, 'index.js'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: ['es2022'],
    jsx: 'automatic',
    external: target.external,
    // The bundle is not minified: an app's bundler minifies, and stack traces stay readable.
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });

  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', target.tsconfig],
    {
      stdio: 'inherit',
    },
  );
  if (tsc.status !== 0) throw new Error(`tsc -p ${target.tsconfig} failed (${tsc.status})`);
  for (const file of await declarationFiles(join(dist, 'types'))) {
    await writeFile(file, rewriteSpecifiers(await readFile(file, 'utf8')));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv[2]).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
