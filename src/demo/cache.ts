// What the page keeps in localStorage, per user: each open conversation's
// messages with the seq they are complete up to (so a reload resumes with
// since_seq instead of starting over), and the last conversation list. It
// is a cache: shown while (re)connecting, then brought up to date by the SDK.
import type { InboxEntry, Message } from '@herald/client';

const MAX_MESSAGES = 200;

export interface CachedThread {
  /** Seq of the last applied event: the resume point. */
  lastSeq: number;
  /** Everything after this seq is in `messages` (1 = the whole history). */
  historyFrom: number;
  messages: Message[];
}

export class DemoCache {
  private readonly prefix: string;

  constructor(origin: string, user: string) {
    this.prefix = `herald-demo:${origin}:${user}:`;
  }

  thread(conversation: string): CachedThread | null {
    const t = this.read<CachedThread>(`c:${conversation}`);
    return t && Array.isArray(t.messages) && typeof t.lastSeq === 'number' ? t : null;
  }

  saveThread(conversation: string, thread: CachedThread): void {
    const messages = thread.messages.slice(-MAX_MESSAGES);
    const historyFrom =
      messages.length < thread.messages.length ? messages[0].seq : Math.max(1, thread.historyFrom);
    this.write(`c:${conversation}`, { ...thread, messages, historyFrom });
  }

  forget(conversation: string): void {
    try {
      localStorage.removeItem(`${this.prefix}c:${conversation}`);
    } catch {
      // Storage disabled: nothing was cached.
    }
  }

  inbox(): InboxEntry[] {
    const list = this.read<InboxEntry[]>('inbox');
    return Array.isArray(list) ? list : [];
  }

  saveInbox(entries: InboxEntry[]): void {
    this.write('inbox', entries);
  }

  private read<T>(key: string): T | null {
    try {
      const raw = localStorage.getItem(this.prefix + key);
      return raw ? (JSON.parse(raw) as T) : null;
    } catch {
      return null;
    }
  }

  private write(key: string, value: unknown): void {
    try {
      localStorage.setItem(this.prefix + key, JSON.stringify(value));
    } catch {
      // Storage full or disabled (private mode): the page works without the cache.
    }
  }
}
