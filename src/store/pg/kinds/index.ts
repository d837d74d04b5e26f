// Each content kind's store half for PostgreSQL and PGlite, by kind name. Typed by the domain's
// KindStores (derived from src/domain/kinds/index.ts): a kind listed there without a line here,
// or a line whose store does not match what the kind declared, does not compile.
import type { KindStores } from '../../../domain/kind-store.ts';
import type { Sql } from '../../../domain/ports.ts';
import { PgPollStore } from './poll.ts';
import { PgReactionStore } from './reactions.ts';

export const pgKindStores: { [N in keyof KindStores]: (sql: Sql) => KindStores[N] } = {
  reactions: (sql) => new PgReactionStore(sql),
  poll: (sql) => new PgPollStore(sql),
};
