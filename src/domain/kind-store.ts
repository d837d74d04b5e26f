// What content kinds store (reactions, poll votes), in the domain's words (the generic action
// path reads its target message from the MessageLog). Each kind declares its own store in its
// server half (`serverKind<ReactionStore>()`, src/domain/kinds/<kind>.ts); `KindStores` maps a
// kind's name to it, derived from the list in src/domain/kinds/index.ts, so a kind added there
// without a store half in src/store/pg/kinds/index.ts is a compile error. Implemented in
// src/store/pg/kind-store.ts.
import type { ServerKinds } from './kinds/index.ts';
import type { StoreOf } from './kinds/server-kind.ts';

/** Each kind's store, by the kind's name (`reactions` → ReactionStore). */
export type KindStores = { [K in ServerKinds[number] as K['wire']['name']]: StoreOf<K> };

export type KindName = keyof KindStores;

export interface KindStore {
  /** The kind's own store, over the same connection or transaction. */
  of<N extends KindName>(kind: N): KindStores[N];
}
