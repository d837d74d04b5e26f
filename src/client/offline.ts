// What the client keeps in its offline storage and brings back: each open
// conversation's position and newest messages, unsent sends and reads, and
// whose storage it is (a storage left by another user is cleared, and that
// user's sends and reads are never sent as this one).
import type { Conversations } from './conversations.ts';
import { HeraldClientError } from './errors.ts';
import type { WelcomeInfo } from './options.ts';
import type { Persistence } from './persistence.ts';
import type { ReadMarkers } from './reads.ts';
import type { Sends } from './sends.ts';
import type { StoredConversation, StoredIdentity } from './storage.ts';
import type { Subscription } from './subscription.ts';

export interface OfflineDeps {
  /** Null with `storage: false`: positions and caches of closed conversations still live here. */
  persistence: Persistence | null;
  conversations: Conversations;
  sends: Sends;
  reads: ReadMarkers;
  /** The host's base URL (part of the storage owner's identity). */
  url: string;
  /** Newest messages kept per conversation. */
  cacheMessages: number;
  /** Marks a restored read, as read() does. */
  read(conversation: string, seq: number): void;
  connected(): boolean;
  flush(): void;
  error(err: HeraldClientError): void;
}

export class Offline {
  /** Conversations found in storage and not opened yet: seeded by open(). */
  private readonly stored = new Map<string, StoredConversation>();
  private identity: StoredIdentity | null = null;

  constructor(private readonly deps: OfflineDeps) {}

  /** Brings back what a previous client over the same storage left; never rejects. */
  async restore(): Promise<void> {
    const { persistence, conversations, sends, reads } = this.deps;
    if (!persistence) return;
    const s = await persistence.load();
    this.identity = s.identity;
    for (const c of s.conversations) {
      if (c && typeof c.conversation === 'string' && Number.isSafeInteger(c.last_seq))
        this.stored.set(c.conversation, { ...c, messages: Array.isArray(c.messages) ? c.messages : [] });
    }
    sends.restore(s.pending);
    for (const r of s.reads) {
      if (!r || typeof r.conversation !== 'string' || !Number.isSafeInteger(r.seq)) continue;
      reads.markRestored(r.conversation, r.seq);
      this.deps.read(r.conversation, r.seq);
    }
    for (const sub of conversations.all()) this.seed(sub);
    if (this.deps.connected()) this.deps.flush();
  }

  /** After disconnect(): the sends still in storage (this user's) back in the outbox, oldest first. */
  async reloadPendingSends(): Promise<void> {
    const { persistence } = this.deps;
    if (!persistence) return;
    await persistence.flush(); // sends confirmed just before disconnect() are gone first
    const s = await persistence.load();
    this.deps.sends.reload(s.pending);
    if (this.deps.connected()) this.deps.flush();
  }

  /** Forgets everything in the storage (logout). */
  async clear(): Promise<void> {
    this.stored.clear();
    this.identity = null;
    await this.deps.persistence?.clear();
  }

  /** Seeds a subscription from its stored record (position and cached messages), once. */
  seed(sub: Subscription): void {
    const rec = this.stored.get(sub.conversation);
    if (!rec) return;
    this.stored.delete(sub.conversation);
    sub._restore(rec.last_seq, rec.messages);
  }

  /** What storage keeps of a conversation: an open one's position and newest messages. */
  snapshotOf(conversation: string): StoredConversation | undefined {
    const snap = this.deps.conversations.get(conversation)?._snapshot(this.deps.cacheMessages);
    return snap ? { conversation, ...snap } : undefined;
  }

  /** Closed by the host: keep its position and cache for the next open() (or reload). */
  keepSnapshot(conversation: string): void {
    const snap = this.snapshotOf(conversation);
    if (snap) {
      this.deps.persistence?.push({ op: 'putConversation', conversation: snap });
      this.stored.set(conversation, snap);
    }
  }

  /** Ended by the server (not a member any more…): nothing of it may be shown after a reload. */
  forget(conversation: string): void {
    this.stored.delete(conversation);
    this.deps.persistence?.forget(conversation);
  }

  /**
   * The first welcome over a storage says whose it is. If it held another user's (or server's)
   * records, they are cleared and that user's unsent sends and reads are dropped, never sent as
   * this one (STORAGE_OTHER_USER); what this client made meanwhile is written again.
   */
  checkOwner(w: WelcomeInfo): void {
    const { persistence, sends, reads, conversations } = this.deps;
    if (!persistence) return;
    const url = this.deps.url.replace(/\/+$/, '');
    const identity: StoredIdentity = { url, tenant_id: w.tenant_id, user_id: w.user_id };
    const prev = this.identity;
    this.identity = identity;
    if (
      prev &&
      prev.url === identity.url &&
      prev.tenant_id === identity.tenant_id &&
      prev.user_id === identity.user_id
    )
      return;
    if (!prev) {
      persistence.push({ op: 'putIdentity', identity });
      return;
    }
    const err = new HeraldClientError('STORAGE_OTHER_USER');
    sends.dropRestored(err);
    reads.dropRestored();
    this.stored.clear();
    void persistence.clear().then(
      () => {
        persistence.push({ op: 'putIdentity', identity });
        sends.storeAll(persistence);
        for (const read of reads.unsent()) persistence.push({ op: 'putRead', read });
        for (const c of conversations.ids()) persistence.touch(c);
      },
      () => {}, // reported as STORAGE_FAILED
    );
    this.deps.error(err);
  }
}
