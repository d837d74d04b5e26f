// Which storage a client uses when the host passes none. Apart from storage.ts
// so that storage.ts (the interface and the memory storage) does not import the
// IndexedDB storage, which imports its types.
import { type HeraldStorage, memoryStorage } from './storage.ts';
import { indexedDbStorage } from './storage-indexeddb.ts';

/**
 * The default: IndexedDB where the runtime has it (browsers), memory elsewhere (Node). Given the
 * initial access token, the database is the user's own — `herald:<tenant>:<user>` from a JWT's
 * `tid` (or `tenant_id`) and `sub` — so two users in two tabs of one browser never share one
 * (the demo's two tabs); an opaque token, or none, gives `herald`.
 */
export function defaultStorage(token?: string): HeraldStorage {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  return idb ? indexedDbStorage({ indexedDB: idb, name: storageNameFor(token) }) : memoryStorage();
}

/** `herald:<tenant>:<user>` from a JWT's claims (not verified: it only picks a name), else `herald`. */
export function storageNameFor(token: string | undefined): string {
  const part = token?.split('.')[1];
  if (!part) return 'herald';
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const c = JSON.parse(json) as { sub?: unknown; tid?: unknown; tenant_id?: unknown };
    const tenant = typeof c.tid === 'string' ? c.tid : typeof c.tenant_id === 'string' ? c.tenant_id : '';
    return typeof c.sub === 'string' && c.sub !== '' ? `herald:${tenant}:${c.sub}` : 'herald';
  } catch {
    return 'herald';
  }
}
