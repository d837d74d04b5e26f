// System notices as the domain sends them: stored once, with a notice entry and a `notice`
// frame per recipient. The domain decides who (a list or the tenant, its cap, which users are
// unknown); the store decides how. Implemented in src/store/pg/notice-store.ts.

export interface NoticeStore {
  /** Every user of the tenant: a tenant-wide notice's recipients. */
  tenantUsers(tenant: string): Promise<string[]>;
  /** The users of `users` the tenant has (each once). */
  knownUsers(tenant: string, users: readonly string[]): Promise<string[]>;
  /** The notice, an entry per recipient and a `notice` frame to each: one statement. */
  send(n: {
    tenant: string;
    id: string;
    title: string;
    body: string;
    data: Record<string, unknown> | null;
    audience: 'tenant' | 'users';
    recipients: readonly string[];
    traceId?: string;
  }): Promise<void>;
}
