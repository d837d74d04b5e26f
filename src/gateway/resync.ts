// Repairs live subscriptions after the bus lost messages (it reconnected): one store read
// (per page) per conversation, from the lowest lastSeq among this node's subscribers of
// it, offered to every one of them (each keeps what is past its own lastSeq); then each
// goes live. Never throws: a failed read leaves the gap to the client's gap detection.
import type { GatewayMetrics } from './metrics.ts';
import type { ResolvedOptions } from './options.ts';
import type { ResyncTarget } from './ports.ts';
import type { Replay } from './queries.ts';
import { storedEventFrame } from './topic-hub.ts';

/** Conversations resynced at once after a bus reconnect (each is one store read per page). */
const RESYNC_CONCURRENCY = 4;

export interface ResyncDeps {
  opts: ResolvedOptions;
  metrics: GatewayMetrics;
  replay(tenant: string, conversation: string, since: number | null, limit: number): Promise<Replay>;
}

export async function resync(deps: ResyncDeps, targets: readonly ResyncTarget[]): Promise<void> {
  const byTopic = new Map<string, ResyncTarget[]>();
  for (const t of targets) {
    const key = `${t.tenant}\0${t.conversation}`;
    const list = byTopic.get(key);
    if (list) list.push(t);
    else byTopic.set(key, [t]);
  }
  const queue = [...byTopic.values()];
  const worker = async () => {
    for (let group = queue.shift(); group; group = queue.shift()) {
      try {
        await resyncTopic(deps, group);
      } catch (err) {
        deps.opts.log?.warn({ err, conversation: group[0].conversation }, 'resync failed');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, queue.length) }, worker));
}

async function resyncTopic(deps: ResyncDeps, targets: ResyncTarget[]): Promise<void> {
  const { tenant, conversation } = targets[0];
  const limit = deps.opts.deps.limits.replayLimit;
  let open = targets;
  let replayed = 0;
  const started = performance.now();
  try {
    let since = open.reduce((min, t) => Math.min(min, t.since), Number.POSITIVE_INFINITY);
    for (;;) {
      const page = await deps.replay(tenant, conversation, since, limit);
      const frames = page.events.map((e) => storedEventFrame(conversation, e.seq, e.frame));
      replayed += frames.length;
      open = open.filter((t) => t.offer(frames));
      if (open.length === 0 || page.events.length < limit) break;
      since = page.events[page.events.length - 1].seq;
    }
  } finally {
    for (const t of targets) t.finish();
    deps.metrics.record({ name: 'replay', events: replayed });
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.record({ name: 'catchup', kind: 'resync', events: replayed, seconds });
  }
}
