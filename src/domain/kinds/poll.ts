// Polls (wire half: src/protocol/kinds/poll.ts; tables: migration 015; store:
// src/store/pg/kinds/poll.ts). A poll goes to a direct, group or channel conversation; its
// options must differ. Members vote once (a new vote replaces theirs; the same vote again
// changes nothing) until the author closes it; voting on a closed poll is CONFLICT; closing
// twice changes nothing.
import { HeraldError } from '../../protocol/index.ts';
import { pollWire } from '../../protocol/kinds/poll.ts';
import { serverKind } from './server-kind.ts';

/** One option's votes on one poll message, or a poll without votes (`option` null). */
export interface PollTallyRow {
  message_id: string;
  /** The message's data: the poll's definition is `data.poll`. */
  data: Record<string, unknown>;
  closed: boolean;
  option: number | null;
  votes: number;
  /** Whether the viewer voted for this option (false without a viewer). */
  mine: boolean;
}

/** What polls store: one vote per (poll message, user), and a poll's close. */
export interface PollStore {
  /** The tallies of those of these messages that carry a poll, one statement. */
  tallies(tenant: string, ids: readonly string[], viewer: string | null): Promise<PollTallyRow[]>;
  isClosed(tenant: string, messageId: string): Promise<boolean>;
  /** Records or replaces the user's vote; false when it was that option already. */
  vote(tenant: string, messageId: string, user: string, option: number): Promise<boolean>;
  /** Closes the poll; false when it was closed already. */
  close(tenant: string, messageId: string, user: string): Promise<boolean>;
}

type Definition = { question: string; options: string[] };
type State = {
  question: string;
  options: { text: string; votes: number }[];
  voters: number;
  closed: boolean;
  mine?: number | null;
};

const definitionOf = (data: Record<string, unknown> | null): Definition | null => {
  const p = data?.poll as Definition | undefined;
  return p && typeof p.question === 'string' && Array.isArray(p.options) ? p : null;
};

export const pollKind = serverKind<PollStore>()(pollWire, {
  content: {
    conversationKinds: ['direct', 'group', 'channel'],
    bodyOf: (poll) => `📊 ${poll.question}`,
    check(poll) {
      const seen = new Set(poll.options.map((o) => o.trim().toLowerCase()));
      if (seen.size !== poll.options.length)
        throw new HeraldError('VALIDATION_FAILED', 'Poll options must differ.');
    },
  },
  appliesTo: (m) => definitionOf(m.data) !== null,
  none: { question: '', options: [], voters: 0, closed: false },
  async summaries(store, tenant, ids, viewer) {
    const out = new Map<string, State>();
    if (ids.length === 0) return out;
    for (const r of await store.tallies(tenant, ids, viewer)) {
      const def = definitionOf(r.data);
      if (!def) continue;
      let s = out.get(r.message_id);
      if (!s) {
        s = {
          question: def.question,
          options: def.options.map((text) => ({ text, votes: 0 })),
          voters: 0,
          closed: r.closed,
        };
        if (viewer !== null) s.mine = null;
        out.set(r.message_id, s);
      }
      if (r.option === null) continue;
      if (s.options[r.option]) s.options[r.option].votes = r.votes;
      s.voters += r.votes;
      if (r.mine && viewer !== null) s.mine = r.option;
    }
    return out;
  },
  actions: {
    async vote({ store, tenant, user, message, args }) {
      const def = definitionOf(message.data) as Definition;
      if (args.option >= def.options.length) {
        throw new HeraldError('VALIDATION_FAILED', `option must be below ${def.options.length}.`);
      }
      // The conversation row is locked: a close cannot slip in between this check and the vote.
      if (await store.isClosed(tenant, message.id)) throw new HeraldError('CONFLICT', 'The poll is closed.');
      return (await store.vote(tenant, message.id, user, args.option)) ? 'poll.voted' : null;
    },
    async close({ store, tenant, user, message }) {
      if (message.sender.type !== 'user' || message.sender.user_id !== user)
        throw new HeraldError('NOT_AUTHOR');
      return (await store.close(tenant, message.id, user)) ? 'poll.closed' : null;
    },
  },
});
