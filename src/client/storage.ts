// The SDK's persistence port: what survives a reload or an offline period.
// Three kinds of records — pending sends (the outbox), per-conversation
// position + a bounded timeline cache, pending read markers — and the
// identity they belong to. Writes come in batches the adapter applies
// atomically (one IndexedDB transaction), so a conversation's last_seq and
// its cached messages always agree: a reload resumes from that last_seq and
// the server replays the rest, with no hole and no duplicate.
//
// Two adapters: memoryStorage() (the default outside browsers; survives a
// new HeraldClient in the same process, not the process) and
// indexedDbStorage() (storage-indexeddb.ts, the default in browsers).
import type { Message } from '../protocol/model.ts';
import type { SendOptions } from './outbox.ts';

/** A send not yet confirmed by the server: resent with the same client_id after a reload. */
export interface StoredSend {
  client_id: string;
  conversation: string;
  body: string;
  options: Omit<SendOptions, 'client_id'>;
  /** Orders sends across a reload (the order they were made in). */
  order: number;
}

/** One conversation's last applied seq and the newest cached messages up to it (ascending by seq). */
export interface StoredConversation {
  conversation: string;
  last_seq: number;
  messages: Message[];
}

/** A read marker the server has not reflected yet. */
export interface StoredRead {
  conversation: string;
  seq: number;
}

/** Whose records these are: a welcome for anyone else clears them. */
export interface StoredIdentity {
  url: string;
  tenant_id: string;
  user_id: string;
}

export interface StoredState {
  identity: StoredIdentity | null;
  pending: StoredSend[];
  conversations: StoredConversation[];
  reads: StoredRead[];
}

export type StorageOp =
  | { op: 'putSend'; send: StoredSend }
  | { op: 'deleteSend'; client_id: string }
  | { op: 'putConversation'; conversation: StoredConversation }
  | { op: 'deleteConversation'; conversation: string }
  | { op: 'putRead'; read: StoredRead }
  | { op: 'deleteRead'; conversation: string }
  | { op: 'putIdentity'; identity: StoredIdentity };

/**
 * A place to keep the client's offline state. `load` is called once per client; `write` applies a
 * batch all-or-nothing, in order; `clear` forgets everything (call it on logout).
 */
export interface HeraldStorage {
  load(): Promise<StoredState>;
  write(ops: StorageOp[]): Promise<void>;
  clear(): Promise<void>;
  /** Releases what the adapter holds (an IndexedDB connection). Optional. */
  close?(): void;
}

export function emptyState(): StoredState {
  return { identity: null, pending: [], conversations: [], reads: [] };
}

/**
 * In-process storage: keeps the records in maps, copied in and out so a caller can never alter
 * what is stored. Pass the same instance to a new HeraldClient to "reload" within a process.
 */
export function memoryStorage(): HeraldStorage {
  let identity: StoredIdentity | null = null;
  const sends = new Map<string, StoredSend>();
  const conversations = new Map<string, StoredConversation>();
  const reads = new Map<string, StoredRead>();
  return {
    async load() {
      return structuredClone({
        identity,
        pending: [...sends.values()].sort((a, b) => a.order - b.order),
        conversations: [...conversations.values()],
        reads: [...reads.values()],
      });
    },
    async write(ops) {
      // Copy first: a batch that cannot be cloned changes nothing (all-or-nothing, as in IndexedDB).
      // Cached messages are frozen-by-convention values the client replaces, never mutates, so a
      // snapshot (written every 250 ms of a busy conversation) copies its array, not each message;
      // load() hands out deep copies.
      const batch = ops.map((o) =>
        o.op === 'putConversation'
          ? { ...o, conversation: { ...o.conversation, messages: [...o.conversation.messages] } }
          : structuredClone(o),
      );
      for (const o of batch) applyOp(o, { sends, conversations, reads, setIdentity: (i) => (identity = i) });
    },
    async clear() {
      identity = null;
      sends.clear();
      conversations.clear();
      reads.clear();
    },
  };
}

function applyOp(
  o: StorageOp,
  s: {
    sends: Map<string, StoredSend>;
    conversations: Map<string, StoredConversation>;
    reads: Map<string, StoredRead>;
    setIdentity: (i: StoredIdentity) => void;
  },
): void {
  switch (o.op) {
    case 'putSend':
      s.sends.set(o.send.client_id, o.send);
      return;
    case 'deleteSend':
      s.sends.delete(o.client_id);
      return;
    case 'putConversation':
      s.conversations.set(o.conversation.conversation, o.conversation);
      return;
    case 'deleteConversation':
      s.conversations.delete(o.conversation);
      return;
    case 'putRead':
      s.reads.set(o.read.conversation, o.read);
      return;
    case 'deleteRead':
      s.reads.delete(o.conversation);
      return;
    case 'putIdentity':
      s.setIdentity(o.identity);
      return;
    default: {
      const unknown: never = o;
      void unknown;
    }
  }
}
