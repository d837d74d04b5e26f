// An SDK client of one user on a TestHerald that listens: a real WebSocket (`ws`), a token the
// node signed, renewed by minting another. The real-node SDK suites share it instead of each
// writing the same constructor call; `clients` collects what they disconnect in afterAll.
import WebSocket from 'ws';
import { HeraldClient, type HeraldClientOptions } from '../../src/client/index.ts';
import type { TestHerald } from './herald.ts';

export interface SdkClientOptions extends Partial<HeraldClientOptions> {
  /** Connect and wait for the welcome (default true). */
  connect?: boolean;
  /** Collected here for disconnecting in afterAll. */
  clients?: HeraldClient[];
}

export async function sdkClient(
  node: TestHerald,
  tenant: string,
  user: string,
  opts: SdkClientOptions = {},
): Promise<HeraldClient> {
  const { connect = true, clients, ...options } = opts;
  const c = new HeraldClient({
    url: node.url as string,
    token: (await node.mintUser(tenant, user)).access_token,
    getToken: async () => (await node.mintUser(tenant, user)).access_token,
    WebSocket,
    ...options,
  });
  clients?.push(c);
  if (connect) {
    c.connect();
    await c.ready();
  }
  return c;
}
