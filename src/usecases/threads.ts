// A user's threads, for both transports: a thread's history, their thread entries (unread) and a
// thread's read marker. A reply itself is a send with `thread_root` (messaging.ts).
import type { DomainDeps } from '../domain/commands.ts';
import { withSummaries } from '../domain/kind-actions.ts';
import type { Page } from '../domain/read-ports.ts';
import { listThread, listThreadEntries, markThreadRead } from '../domain/threads.ts';
import type { Message, ThreadEntry } from '../protocol/model.ts';
import type { Caller } from './messaging.ts';

export interface Threads {
  history(
    c: Caller,
    conversation: string,
    rootId: string,
    page: Page,
  ): Promise<{ root: Message; messages: Message[]; has_more: boolean }>;
  /** The caller's thread entries of the conversation, latest reply first (or one root's). */
  entries(c: Caller, conversation: string, limit: number, rootId?: string): Promise<ThreadEntry[]>;
  read(c: Caller, conversation: string, rootId: string, seq: number): Promise<ThreadEntry>;
}

export function threads(deps: DomainDeps): Threads {
  const { db } = deps;
  const reads = deps.reads(db);
  return {
    async history(c, conversation, rootId, page) {
      const t = await listThread(reads, c.tenant, c.user, conversation, rootId, page);
      // Replies and their root carry their kinds' summaries (reactions, tallies) as history does.
      const [root, ...messages] = await withSummaries(deps, c.tenant, c.user, [t.root, ...t.messages]);
      return { root, messages, has_more: t.has_more };
    },
    entries: (c, conversation, limit, rootId) =>
      listThreadEntries(reads, c.tenant, c.user, conversation, limit, rootId),
    read: (c, conversation, rootId, seq) =>
      markThreadRead(deps, c.tenant, c.user, conversation, rootId, seq, c.trace),
  };
}
