// A fresh PGlite data directory costs an initdb in WebAssembly: ~10–15 s on
// this kind of machine, most of a first `npm start`. Copying an initdb'd,
// cleanly closed directory (a plain PostgreSQL data directory) takes well under
// a second, so the initdb runs once — at install (`herald setup`, run by npm's
// `prepare`) or on the first start — into a template kept under
// node_modules/.cache, and every new data directory starts as a copy of it.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** PGlite's version, from its package.json (which its `exports` do not expose to require). */
function pgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (pkg.name === '@electric-sql/pglite') return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the version of @electric-sql/pglite');
    dir = up;
  }
}

/** The template for this PGlite version (PostgreSQL's on-disk format follows the version). */
export function templateDir(): string {
  return join(root, 'node_modules', '.cache', 'herald', `pglite-${pgliteVersion()}`);
}

/** Whether a data directory has already been initialized. */
export function isInitialized(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

/** Creates the template if it is missing. Returns whether it had to be created. */
export async function ensureTemplate(): Promise<boolean> {
  const target = templateDir();
  if (isInitialized(target)) return false;
  // Built beside its final place and renamed, so a concurrent or interrupted build never
  // leaves a half-written template behind.
  const building = `${target}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = await PGlite.create(building);
  await pg.close();
  try {
    renameSync(building, target);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    if (!isInitialized(target)) throw err; // Someone else finished first: theirs is as good.
  }
  return true;
}

/**
 * Makes `dataDir` an initialized data directory by copying the template (created first when
 * missing). Does nothing when `dataDir` is already initialized, nor to a non-empty directory
 * that is not one (never copy over someone's files; PGlite then says what is wrong).
 */
export async function seedDataDir(
  dataDir: string,
  progress: (line: string) => void = () => {},
): Promise<void> {
  if (isInitialized(dataDir)) return;
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return;
  if (!isInitialized(templateDir())) {
    progress('creating the embedded PostgreSQL template (once per install, ~10–15 s)…');
    await ensureTemplate();
  }
  cpSync(templateDir(), dataDir, { recursive: true });
}
