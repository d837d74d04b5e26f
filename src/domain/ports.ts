// Ports the domain needs from the outside world. Adapters implement them;
// the domain imports no driver, socket or framework.

export type Row = Record<string, unknown>;

export interface QueryOptions {
  /** A statement name, unique per text: parsed and planned once per connection. */
  name?: string;
}

/** A SQL connection or transaction (PostgreSQL dialect). */
export interface Sql {
  /** `opts.name` makes it a named prepared statement where the driver has them (pg). */
  query<T extends Row = Row>(text: string, params?: unknown[], opts?: QueryOptions): Promise<{ rows: T[] }>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
}

/** Who is looking at which conversation right now (TTL'd). */
export interface ViewingRegistry {
  /** Record that a device of `user` views `conversation` (null: nothing). */
  set(tenant: string, user: string, device: string, conversation: string | null): Promise<void>;
  /** Users currently viewing the conversation, among `candidates`. */
  viewers(tenant: string, conversation: string, candidates?: readonly string[]): Promise<Set<string>>;
}

/** A viewing registry that knows of no viewer: for tools and tests without a gateway. */
export const nobodyViewing: ViewingRegistry = {
  async set() {},
  async viewers() {
    return new Set();
  },
};

/** Opens transactions; the store's Db satisfies it. */
export interface Transactor extends Sql {
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
}
