// The server halves of the kinds with a wire half (src/protocol/kinds/index.ts lists those).
// Adding a kind: its file here and one line below.
import { pollKind } from './poll.ts';
import { reactionsKind } from './reactions.ts';
import type { AnyServerKind } from './server-kind.ts';

export const serverKinds: readonly AnyServerKind[] = [reactionsKind, pollKind];
