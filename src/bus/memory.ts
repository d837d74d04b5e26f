import type { Bus, BusHandler } from './port.ts';

/** In-process bus for the embedded single node. Delivery is synchronous and in order. */
export function memoryBus(): Bus {
  const subs = new Map<string, Set<BusHandler>>();
  return {
    kind: 'memory',
    async publish(topic, payload) {
      const set = subs.get(topic);
      if (!set) return;
      for (const h of [...set]) {
        try {
          h(payload, topic);
        } catch {
          // A failing subscriber must not stop delivery to the others.
        }
      }
    },
    async subscribe(topic, handler) {
      let set = subs.get(topic);
      if (!set) {
        set = new Set();
        subs.set(topic, set);
      }
      set.add(handler);
      return async () => {
        set.delete(handler);
        if (set.size === 0 && subs.get(topic) === set) subs.delete(topic);
      };
    },
    onResync() {
      // In-process delivery cannot be lost.
      return () => {};
    },
    healthy() {
      return true;
    },
    async close() {
      subs.clear();
    },
  };
}
