// The import-boundary check (.dependency-cruiser.cjs, `npm run check:deps` in .ci/run) must
// fail on each kind of violation it exists for: it is run here on a tiny tree that breaks
// every rule once — with type-only imports, which must count — and on the repository itself.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cruiser = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const config = join(root, '.dependency-cruiser.cjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

/** Runs the cruiser as `npm run check:deps` does; `extra` options go after the path. */
function run(
  cwd: string,
  outputType: 'json' | 'err',
  extra: string[],
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cruiser, 'src', '--config', config, '--output-type', outputType, ...extra],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code: err ? Number(err.code) : 0, stdout });
      },
    );
  });
}

/** The violations found, and the exit code of the same check with the `err` reporter CI uses. */
async function cruise(cwd: string, ...extra: string[]) {
  const json = await run(cwd, 'json', extra);
  const { summary } = JSON.parse(json.stdout) as {
    summary: { violations: Violation[]; totalCruised: number; totalDependenciesCruised: number };
  };
  const { code } = await run(cwd, 'err', extra);
  return {
    code,
    violations: summary.violations,
    modules: summary.totalCruised,
    dependencies: summary.totalDependenciesCruised,
  };
}

/** One violation of each rule, plus allowed imports (the host may import anything). */
const FIXTURE: Record<string, string> = {
  'src/store/db.ts': 'export const db = 1;\n',
  'src/domain/compose.ts': "import { db } from '../store/db.ts';\nexport const x = db;\n",
  'src/domain/model.ts': 'export interface Model { id: string }\n',
  'src/protocol/frames.ts':
    "import type { WebSocket } from 'ws';\nimport type { Model } from '../domain/model.ts';\nexport type F = WebSocket | Model;\n",
  'src/gateway/core.ts': "import type { Session } from './session.ts';\nexport type C = Session;\n",
  'src/gateway/session.ts': "import type { C } from './core.ts';\nexport interface Session { core: C }\n",
  'src/api/context.ts': 'export const route = 1;\n',
  'src/usecases/messaging.ts': "import { route } from '../api/context.ts';\nexport const send = route;\n",
  'src/domain/edits.ts':
    "import type { send } from '../usecases/messaging.ts';\nexport type E = typeof send;\n",
  'src/registry/memory.ts': "import type { Host } from '../host/herald.ts';\nexport type R = Host;\n",
  'src/host/herald.ts':
    "import { db } from '../store/db.ts';\nimport { x } from '../domain/compose.ts';\nexport type Host = typeof db | typeof x;\n",
};

describe('the import-boundary check', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-boundaries-'));
    for (const [path, text] of Object.entries(FIXTURE)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    // Real packages, so `ws` resolves as it does in the repository.
    await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails on each rule once, type-only imports included, and on nothing allowed', async () => {
    const run = await cruise(dir);
    expect(run.code).not.toBe(0);
    const found = run.violations
      .map((v) => `${v.rule.name}: ${v.from} → ${v.to.replace(/^.*node_modules\//, 'node_modules/')}`)
      .sort();
    expect(found).toEqual(
      [
        'model-imports-no-infrastructure: src/domain/compose.ts → src/store/db.ts',
        'model-imports-no-infrastructure: src/protocol/frames.ts → node_modules/ws/index.js',
        'protocol-imports-nothing: src/protocol/frames.ts → src/domain/model.ts',
        'no-cycles: src/gateway/core.ts → src/gateway/session.ts',
        'nothing-imports-the-host: src/registry/memory.ts → src/host/herald.ts',
        'use-cases-know-no-transport: src/usecases/messaging.ts → src/api/context.ts',
        'model-below-use-cases: src/domain/edits.ts → src/usecases/messaging.ts',
      ].sort(),
    );
  });

  it('passes the repository (known violations aside), having parsed its TypeScript', async () => {
    const run = await cruise(root, '--ignore-known');
    expect(run.violations.filter((v) => v.rule.severity !== 'ignore')).toEqual([]);
    expect(run.code).toBe(0);
    // Unparsed .ts files would cruise as modules without imports.
    expect(run.modules).toBeGreaterThan(100);
    expect(run.dependencies).toBeGreaterThan(run.modules);
  });
});
