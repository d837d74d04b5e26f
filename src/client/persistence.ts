// Write-behind to a HeraldStorage. Sends, reads and the identity are written
// at the end of the current task (a send made just before the page closes
// should be on disk); conversation snapshots (last_seq + the newest cached
// messages) are coalesced and written at most every `snapshotDelayMs`, since
// a live conversation changes on every frame. Either way a snapshot is taken
// whole at write time, so last_seq and the cached messages always agree: a
// reload that lost the newest snapshot resumes from an older last_seq and the
// server replays the rest. One batch is in flight at a time, in order.
//
// Storage failures never stop messaging: they are reported (STORAGE_FAILED)
// and the client goes on with what it holds in memory.
import { HeraldClientError } from './errors.ts';
import {
  emptyState,
  type HeraldStorage,
  type StorageOp,
  type StoredConversation,
  type StoredState,
} from './storage.ts';

export interface PersistenceDeps {
  storage: HeraldStorage;
  /** The snapshot of a conversation now; undefined: nothing to write. */
  snapshot(conversation: string): StoredConversation | undefined;
  error(err: HeraldClientError): void;
  /** Default 250 ms. */
  snapshotDelayMs?: number;
}

export class Persistence {
  private queue: StorageOp[] = [];
  private readonly dirty = new Set<string>();
  private writing: Promise<void> | null = null;
  private scheduled = false;
  private snapshotTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly deps: PersistenceDeps) {}

  /** Reads what a previous client left; a failure reports STORAGE_FAILED and starts empty. */
  async load(): Promise<StoredState> {
    try {
      const s = await this.deps.storage.load();
      return {
        identity: s?.identity ?? null,
        pending: Array.isArray(s?.pending) ? s.pending : [],
        conversations: Array.isArray(s?.conversations) ? s.conversations : [],
        reads: Array.isArray(s?.reads) ? s.reads : [],
      };
    } catch (cause) {
      this.deps.error(storageError('read', cause));
      return emptyState();
    }
  }

  /** Queues an op; written at the end of this task with whatever else is queued. */
  push(op: StorageOp): void {
    this.queue.push(op);
    this.schedule();
  }

  /** The conversation changed: snapshot it within snapshotDelayMs. */
  touch(conversation: string): void {
    this.dirty.add(conversation);
    if (this.snapshotTimer !== null) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = null;
      this.schedule();
    }, this.deps.snapshotDelayMs ?? 250);
    // Never keep a Node process alive for a cache write.
    (this.snapshotTimer as { unref?: () => void }).unref?.();
  }

  /** Forgets a conversation (it ended): a snapshot still due is dropped, its record deleted. */
  forget(conversation: string): void {
    this.dirty.delete(conversation);
    this.push({ op: 'deleteConversation', conversation });
  }

  /** Writes everything queued and every pending snapshot now; resolves once it is stored. */
  async flush(): Promise<void> {
    if (this.snapshotTimer !== null) {
      clearTimeout(this.snapshotTimer);
      this.snapshotTimer = null;
    }
    for (;;) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (this.queue.length === 0 && this.dirty.size === 0) return;
      await this.writeBatch(true);
    }
  }

  /** Forgets everything stored and queued (logout). */
  async clear(): Promise<void> {
    this.queue = [];
    this.dirty.clear();
    while (this.writing) await this.writing;
    try {
      await this.deps.storage.clear();
    } catch (cause) {
      const err = storageError('clear', cause);
      this.deps.error(err);
      throw err;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (!this.writing) void this.writeBatch(false);
    });
  }

  /** One batch: the queued ops, plus the snapshots when they are due (or `all`). */
  private writeBatch(all: boolean): Promise<void> {
    const ops = this.queue;
    this.queue = [];
    if (all || this.snapshotTimer === null) {
      for (const c of this.dirty) {
        const snap = this.deps.snapshot(c);
        if (snap) ops.push({ op: 'putConversation', conversation: snap });
      }
      this.dirty.clear();
    }
    if (ops.length === 0) return Promise.resolve();
    const run = (async () => {
      try {
        await this.deps.storage.write(ops);
      } catch (cause) {
        this.deps.error(storageError('write', cause));
      }
    })();
    this.writing = run;
    return run.finally(() => {
      if (this.writing === run) this.writing = null;
      const snapshotsDue = this.dirty.size > 0 && this.snapshotTimer === null;
      if (this.queue.length > 0 || snapshotsDue) this.schedule();
    });
  }
}

function storageError(what: 'read' | 'write' | 'clear', cause: unknown): HeraldClientError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new HeraldClientError(
    'STORAGE_FAILED',
    `Could not ${what} the client's offline storage${detail}. The client goes on in memory.`,
    { cause },
  );
}
