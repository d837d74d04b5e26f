// Named one-shot timers over the injected clock: setting a name again replaces
// its timer, so each job (reconnect, ping, a conversation's resubscribe…) has
// at most one pending, and a whole group can be cleared by name or prefix.
import type { Timers } from './timers.ts';

export class NamedTimers {
  private readonly handles = new Map<string, unknown>();

  constructor(private readonly timers: Timers) {}

  now(): number {
    return this.timers.now();
  }

  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    const handle = this.timers.setTimeout(() => {
      if (this.handles.get(name) === handle) this.handles.delete(name);
      fn();
    }, ms);
    this.handles.set(name, handle);
  }

  clear(name: string): void {
    const h = this.handles.get(name);
    if (h !== undefined) this.timers.clearTimeout(h);
    this.handles.delete(name);
  }

  clearPrefix(prefix: string): void {
    for (const name of [...this.handles.keys()]) if (name.startsWith(prefix)) this.clear(name);
  }

  clearAll(): void {
    for (const name of [...this.handles.keys()]) this.clear(name);
  }
}
