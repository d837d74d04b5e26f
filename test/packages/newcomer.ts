// A scratch app outside the source tree that installs @herald/client and
// @herald/react the way a newcomer would: from the tarballs `npm pack` makes,
// beside react, react-dom, ws and their types (`npm install --offline`: no
// network; see REGISTRY). The tests then type-check and run code in it by
// package name.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws on a non-zero exit (the caller asserts on `code` and the output). */
export function run(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  // npm_* variables of an enclosing `npm test` (workspace, prefix, …) must not steer the scratch app's npm.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
  );
  return new Promise<RunResult>((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: { ...env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function must(cmd: string, args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} (in ${opts.cwd}) exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * The registry packages the scratch app installs besides ours: a React app in Node 20 (`ws` for
 * the socket) with its types. They are packed from the repository's node_modules — the very
 * versions its lockfile pins — because `npm ci` caches only tarballs, not the registry metadata an
 * install by version range needs: with these tarballs `npm install --offline` works on any machine
 * that ran `npm ci`, and never touches the network.
 */
const REGISTRY = {
  dependencies: ['react', 'react-dom', 'ws'],
  devDependencies: ['@types/react', '@types/react-dom', '@types/ws', '@types/node'],
  /** Their own dependencies (and @herald/client's: typebox, whose types its declarations use),
   * listed so npm takes the packed copies instead of asking the registry. */
  transitive: ['scheduler', 'csstype', 'undici-types', 'typebox'],
};

export interface ScratchApp {
  dir: string;
  /** The packed tarballs of our packages: file name → the list of files in it. */
  tarballs: Record<string, string[]>;
  write(path: string, text: string): Promise<void>;
  /**
   * Type-checks (and emits to dist/) the app with the repository's TypeScript 7 (packing it would
   * mean its 27 MB per-platform native compiler); module resolution is the app's own: its
   * tsconfig, its node_modules.
   */
  tsc(...args: string[]): Promise<RunResult>;
  node(script: string, env?: Record<string, string>): Promise<RunResult>;
  remove(): Promise<void>;
}

export async function createScratchApp(): Promise<ScratchApp> {
  const base = await mkdtemp(join(tmpdir(), 'herald-newcomer-'));
  const packs = join(base, 'tarballs');
  const dir = join(base, 'app');
  await mkdir(packs);
  await mkdir(join(dir, 'src'), { recursive: true });

  // `npm pack` runs each package's prepack (its build), as a publish would.
  const packed = await must(
    'npm',
    ['pack', '--json', '--pack-destination', packs, '-w', '@herald/client', '-w', '@herald/react'],
    { cwd: root },
  );
  const manifest = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
    name: string;
    filename: string;
    files: { path: string }[];
  }[];
  const tarballs = Object.fromEntries(manifest.map((p) => [p.filename, p.files.map((f) => f.path)]));
  const ours = Object.fromEntries(manifest.map((p) => [p.name, `file:../tarballs/${p.filename}`]));

  const names = [...REGISTRY.dependencies, ...REGISTRY.devDependencies, ...REGISTRY.transitive];
  const packedDeps = await must(
    'npm',
    ['pack', '--json', '--pack-destination', packs, ...names.map((p) => `./${p}`)],
    {
      cwd: join(root, 'node_modules'),
    },
  );
  const local = Object.fromEntries(
    (JSON.parse(packedDeps.stdout) as { name: string; filename: string }[]).map((p) => [
      p.name,
      `file:../tarballs/${p.filename}`,
    ]),
  );
  const pick = (list: string[]) => Object.fromEntries(list.map((n) => [n, local[n]]));
  const pkg = {
    name: 'newcomer-app',
    private: true,
    type: 'module',
    dependencies: { ...ours, ...pick(REGISTRY.dependencies) },
    devDependencies: { ...pick(REGISTRY.devDependencies), ...pick(REGISTRY.transitive) },
  };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  await writeFile(
    join(dir, 'tsconfig.json'),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          jsx: 'react-jsx',
          lib: ['ES2022', 'DOM'],
          types: ['node'],
          outDir: 'dist',
          rootDir: 'src',
        },
        include: ['src'],
      },
      null,
      2,
    )}\n`,
  );
  // An empty cache of its own: the install needs nothing but the tarballs (and no network).
  await must('npm', ['install', '--offline', '--no-audit', '--no-fund', '--cache', join(base, 'npm-cache')], {
    cwd: dir,
  });

  return {
    dir,
    tarballs,
    write: (path, text) => writeFile(join(dir, path), text),
    tsc: (...args) =>
      run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ...args], { cwd: dir }),
    node: (script, env) => run(process.execPath, [script], { cwd: dir, env }),
    remove: () => rm(base, { recursive: true, force: true }),
  };
}

/** The ```ts / ```tsx blocks of a Markdown file, in order. */
export async function codeBlocks(doc: string): Promise<{ lang: 'ts' | 'tsx'; code: string; line: number }[]> {
  const text = await readFile(join(root, doc), 'utf8');
  const blocks: { lang: 'ts' | 'tsx'; code: string; line: number }[] = [];
  const fence = /^```(ts|tsx)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    blocks.push({
      lang: m[1] as 'ts' | 'tsx',
      code: m[2],
      line: text.slice(0, m.index).split('\n').length,
    });
  }
  return blocks;
}
