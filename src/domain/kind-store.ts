// What content kinds store (reactions, poll votes) and the kind actions' writes. Implemented in
// src/store/pg/kind-store.ts.

// biome-ignore lint/suspicious/noEmptyInterface: filled as the kinds' SQL moves out of the domain.
export interface KindStore {}
