// <HeraldProvider client={…}>: makes one HeraldClient available to the hooks
// below it. The app creates the client (its url, token callback, device id,
// WebSocket) — the provider only starts listening to it and, unless told
// otherwise, connects it on mount and disconnects it on unmount.
import type { HeraldClient } from '@herald/client';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';
import { HeraldStore } from './store.ts';

const HeraldContext = createContext<HeraldStore | null>(null);

export interface HeraldProviderProps {
  client: HeraldClient;
  /** Connect on mount and disconnect on unmount (default true); false when the app manages the connection. */
  connect?: boolean;
  children?: ReactNode;
}

export function HeraldProvider({ client, connect = true, children }: HeraldProviderProps) {
  // One store per client: a new client (e.g. another user signed in) gets a fresh one.
  const [state, setState] = useState(() => ({ client, store: new HeraldStore(client) }));
  const store = state.client === client ? state.store : new HeraldStore(client);
  if (store !== state.store) setState({ client, store });

  useEffect(() => {
    store.start();
    return () => store.stop();
  }, [store]);
  useEffect(() => {
    if (!connect) return;
    client.connect();
    return () => client.disconnect();
  }, [client, connect]);

  return <HeraldContext.Provider value={store}>{children}</HeraldContext.Provider>;
}

/** The provider's store (for the hooks). Throws outside a <HeraldProvider>. */
export function useHeraldStore(): HeraldStore {
  const store = useContext(HeraldContext);
  if (!store) throw new Error('Herald hooks need a <HeraldProvider client={…}> above them.');
  return store;
}

/** The provider's HeraldClient, for anything the hooks do not cover. */
export function useHerald(): HeraldClient {
  return useHeraldStore().client;
}
