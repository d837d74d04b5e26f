import type { Bus, BusHandler, BusMessage } from './port.ts';

/** In-process bus for the embedded single node. Delivery is synchronous and in order. */
export function memoryBus(): Bus {
  const subs = new Map<string, Set<BusHandler>>();
  const deliver = (topic: string, payload: string) => {
    const set = subs.get(topic);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(payload, topic);
      } catch {
        // A failing subscriber must not stop delivery to the others.
      }
    }
  };
  return {
    kind: 'memory',
    async publish(topic, payload) {
      deliver(topic, payload);
    },
    async publishMany(messages: readonly BusMessage[]) {
      for (const m of messages) deliver(m.topic, m.payload);
      return messages.map(() => null);
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
