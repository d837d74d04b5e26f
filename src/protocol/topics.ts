// Bus topic names. Every topic starts with the tenant (DESIGN §6, §10).
export const topics = {
  conversation: (tenant: string, conversation: string) => `t:${tenant}:c:${conversation}`,
  user: (tenant: string, user: string) => `t:${tenant}:u:${user}`,
  ephemeral: (tenant: string, conversation: string) => `t:${tenant}:e:${conversation}`,
} as const;
