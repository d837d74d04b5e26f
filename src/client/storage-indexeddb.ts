// HeraldStorage on the browser's IndexedDB, with the raw API (no wrapper
// library). One database per `name` with four object stores; every batch is
// one readwrite transaction over all of them, so it lands whole or not at all
// (a tab closed mid-write leaves the previous state, never half of a batch).
import type {
  HeraldStorage,
  StorageOp,
  StoredConversation,
  StoredIdentity,
  StoredRead,
  StoredSend,
} from './storage.ts';

export interface IndexedDbStorageOptions {
  /**
   * Database name. Default `herald`. Use one per user when several users share a browser
   * profile (e.g. `herald:${userId}`); a welcome for another user clears the records anyway.
   */
  name?: string;
  /** The factory; default globalThis.indexedDB (tests pass fake-indexeddb's). */
  indexedDB?: IDBFactory;
}

const VERSION = 1;
const SENDS = 'sends';
const CONVERSATIONS = 'conversations';
const READS = 'reads';
const META = 'meta';
const STORES = [SENDS, CONVERSATIONS, READS, META];
const IDENTITY_KEY = 'identity';

export function indexedDbStorage(opts: IndexedDbStorageOptions = {}): HeraldStorage {
  const name = opts.name ?? 'herald';
  let opening: Promise<IDBDatabase> | null = null;

  const db = (): Promise<IDBDatabase> => {
    if (opening) return opening;
    const factory = opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) return Promise.reject(new Error('IndexedDB is not available in this runtime.'));
    const attempt = new Promise<IDBDatabase>((resolve, reject) => {
      let req: IDBOpenDBRequest;
      try {
        req = factory.open(name, VERSION);
      } catch (err) {
        reject(err);
        return;
      }
      req.onupgradeneeded = () => {
        const d = req.result;
        if (!d.objectStoreNames.contains(SENDS)) d.createObjectStore(SENDS, { keyPath: 'client_id' });
        if (!d.objectStoreNames.contains(CONVERSATIONS))
          d.createObjectStore(CONVERSATIONS, { keyPath: 'conversation' });
        if (!d.objectStoreNames.contains(READS)) d.createObjectStore(READS, { keyPath: 'conversation' });
        if (!d.objectStoreNames.contains(META)) d.createObjectStore(META);
      };
      req.onsuccess = () => {
        const d = req.result;
        // A newer version opened in another tab: let it upgrade; we reopen on the next call.
        d.onversionchange = () => {
          d.close();
          opening = null;
        };
        resolve(d);
      };
      req.onerror = () => reject(req.error ?? new Error(`Opening IndexedDB "${name}" failed.`));
      req.onblocked = () => reject(new Error(`Opening IndexedDB "${name}" is blocked by another tab.`));
    });
    opening = attempt;
    // A failed open is not cached: the next call tries again (e.g. after a private-mode refusal).
    attempt.catch(() => {
      if (opening === attempt) opening = null;
    });
    return attempt;
  };

  /** Runs `fill` in one transaction over every store; resolves when it has committed. */
  const tx = async <T>(mode: IDBTransactionMode, fill: (t: IDBTransaction) => () => T): Promise<T> => {
    const d = await db();
    return new Promise<T>((resolve, reject) => {
      let t: IDBTransaction;
      try {
        t = d.transaction(STORES, mode);
      } catch (err) {
        reject(err);
        return;
      }
      let result: () => T;
      try {
        result = fill(t);
      } catch (err) {
        t.abort();
        reject(err);
        return;
      }
      t.oncomplete = () => resolve(result());
      t.onerror = () => reject(t.error ?? new Error('IndexedDB transaction failed.'));
      t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted.'));
    });
  };

  return {
    load: () =>
      tx('readonly', (t) => {
        const sends = t.objectStore(SENDS).getAll();
        const conversations = t.objectStore(CONVERSATIONS).getAll();
        const reads = t.objectStore(READS).getAll();
        const identity = t.objectStore(META).get(IDENTITY_KEY);
        return () => ({
          identity: (identity.result as StoredIdentity | undefined) ?? null,
          pending: (sends.result as StoredSend[]).sort((a, b) => a.order - b.order),
          conversations: conversations.result as StoredConversation[],
          reads: reads.result as StoredRead[],
        });
      }),
    write: (ops: StorageOp[]) =>
      tx('readwrite', (t) => {
        for (const o of ops) applyOp(t, o);
        return () => undefined;
      }),
    clear: () =>
      tx('readwrite', (t) => {
        for (const s of STORES) t.objectStore(s).clear();
        return () => undefined;
      }),
    close() {
      const o = opening;
      opening = null;
      o?.then(
        (d) => d.close(),
        () => {},
      );
    },
  };
}

function applyOp(t: IDBTransaction, o: StorageOp): void {
  switch (o.op) {
    case 'putSend':
      t.objectStore(SENDS).put(o.send);
      return;
    case 'deleteSend':
      t.objectStore(SENDS).delete(o.client_id);
      return;
    case 'putConversation':
      t.objectStore(CONVERSATIONS).put(o.conversation);
      return;
    case 'deleteConversation':
      t.objectStore(CONVERSATIONS).delete(o.conversation);
      return;
    case 'putRead':
      t.objectStore(READS).put(o.read);
      return;
    case 'deleteRead':
      t.objectStore(READS).delete(o.conversation);
      return;
    case 'putIdentity':
      t.objectStore(META).put(o.identity, IDENTITY_KEY);
      return;
    default: {
      const unknown: never = o;
      void unknown;
    }
  }
}
