// The gateway's view of the store's live reads (DomainDeps.reads → LiveReader, src/store/pg):
// the access decision on the row it returns (the domain's `mayRead`), and replayed events as
// `event` frames assembled from the stored payload text. The gateway runs no SQL of its own:
// its other reads (origins, member ids, channel sizes) are the store's ConnectionReader.
import { mayRead } from '../domain/access.ts';
import type { AccessRow, StoredEvent } from '../domain/read-ports.ts';
import type { ConversationKind } from '../protocol/model.ts';

export interface Access {
  kind: ConversationKind;
  member_count: number;
  /** A member, or any user of the tenant for tenant-wide announcements. */
  allowed: boolean;
  /**
   * The conversation's last seq in the same snapshot as `allowed`: a `left` of this user at or
   * below it is history (they were re-added since), above it the membership ended after the check.
   */
  head: number;
}

/** Who may read, decided on the store's row. */
export function accessOf(r: AccessRow): Access {
  return { kind: r.kind, member_count: r.member_count, allowed: mayRead(r, r.member), head: r.last_seq };
}

export interface Replay {
  head: number;
  /** Serialized `event` frames, in seq order. */
  events: { seq: number; frame: string }[];
}

/** Frames from the stored payload text: no parse and re-serialize of the event. */
export function replayOf(conversation: string, head: number, stored: readonly StoredEvent[]): Replay {
  const conv = JSON.stringify(conversation);
  const events: Replay['events'] = [];
  for (const e of stored)
    events.push({
      seq: e.seq,
      frame: `{"type":"event","conversation":${conv},"seq":${e.seq},"event":${e.payload}}`,
    });
  return { head, events };
}
