// One process per embedded data directory. PGlite has no cross-process
// locking: two nodes on one HERALD_DATA_DIR both accept writes, hand out the
// same seq twice and lose acknowledged messages. The directory is locked with
// proper-lockfile: an atomic mkdir of `<dir>/herald.lock` whose mtime the
// holder refreshes every second.
//
// After SIGKILL (or a power cut) the lock directory stays behind, but nobody
// refreshes it: a lock older than STALE_MS is taken over. So a contender
// watches the lock for a little longer than that: if its mtime moves, a live
// process holds it and we refuse at once (within ~1 s); if it does not, its
// holder is dead and we take it (a restart after a crash waits at most ~10 s,
// never forever). A holder whose event loop stalls past STALE_MS may lose its
// lock to a newcomer: it is told (onLost) and must stop writing.
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import lockfile from 'proper-lockfile';
import { ConfigError } from '../config.ts';

export const STALE_MS = 10_000;
const UPDATE_MS = 1_000;

/** A second process on the same data directory. Printed as one line by the CLI (exit 2). */
export class DataDirLockedError extends ConfigError {
  constructor(readonly dataDir: string) {
    super(
      `HERALD_DATA_DIR ${dataDir} is in use by another running Herald process. ` +
        'Stop that process, give this one its own HERALD_DATA_DIR (each embedded node needs one), ' +
        'or run every node on a PostgreSQL server with DATABASE_URL.',
    );
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Called when another process took the lock over (our holder looked dead to it). */
  onLost?: (err: Error) => void;
  /** Staleness threshold (tests shorten it). */
  staleMs?: number;
}

/** Takes the data directory's lock, waiting out a dead holder's stale lock; throws DataDirLockedError if a live process holds it. */
export async function lockDataDir(dir: string, opts: LockOptions = {}): Promise<DataDirLock> {
  const dataDir = resolve(dir);
  mkdirSync(dataDir, { recursive: true });
  const lockfilePath = join(dataDir, 'herald.lock');
  const stale = opts.staleMs ?? STALE_MS;
  const update = Math.max(Math.min(UPDATE_MS, stale / 2), 1000);
  const tryLock = () =>
    lockfile.lock(dataDir, {
      lockfilePath,
      stale,
      update,
      realpath: false,
      onCompromised: (err) => opts.onLost?.(err),
    });
  const deadline = Date.now() + stale + 2 * update;
  let seen: number | null = null;
  for (;;) {
    try {
      const release = await tryLock();
      return { release: () => release().catch(() => {}) };
    } catch (err) {
      if ((err as { code?: string }).code !== 'ELOCKED') throw err;
    }
    const mtime = mtimeOf(lockfilePath);
    // A refreshed mtime is a heartbeat: the holder is alive.
    if (seen !== null && mtime !== null && mtime !== seen) throw new DataDirLockedError(dataDir);
    if (mtime !== null) seen = mtime;
    if (Date.now() > deadline) throw new DataDirLockedError(dataDir);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function mtimeOf(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null; // released meanwhile: the next attempt takes it
  }
}
