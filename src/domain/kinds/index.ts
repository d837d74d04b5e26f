// The server halves of the kinds with a wire half (src/protocol/kinds/index.ts lists those).
// Adding a kind: its file here and one line below (its store half: src/store/pg/kinds/index.ts,
// which the compiler holds to this list through KindStores, src/domain/kind-store.ts).
import { pollKind } from './poll.ts';
import { reactionsKind } from './reactions.ts';
import type { AnyServerKind } from './server-kind.ts';

const list = [reactionsKind, pollKind] as const;

/** The kinds as written, each with its wire shape and its store (for KindStores). */
export type ServerKinds = typeof list;

/** The kinds as the generic code sees them (content-kinds.ts, kind-actions.ts). */
export const serverKinds: readonly AnyServerKind[] = list;
