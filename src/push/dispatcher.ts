// The push dispatcher: host-level, started with the node (relay role), driven by committed
// rows, never by a request handler. Woken by NOTIFY, by a timer set for the next row that
// falls due, and by the polling fallback (the shared DrainLoop).
//
// Each round: (1) decide the pending messages whose delay has passed (decide.ts); (2) send
// the pending deliveries that are due. A delivery is claimed with a lease committed before
// the provider is called (no transaction open across the network); a node that dies
// mid-attempt leaves a lease that expires after twice the timeout, and whoever runs next
// sends it again with the same push_id: at-least-once.
import { randomUUID } from 'node:crypto';
import type { PushConfig } from '../config.ts';
import { HeraldError } from '../protocol/index.ts';
import type { ConnectionRegistry } from '../registry/ports.ts';
import type { Db, Row } from '../store/db.ts';
import { DrainLoop } from '../store/drain-loop.ts';
import { decide, type PendingRow } from './decide.ts';
import { type PushDelivery, toPushDelivery } from './deliveries.ts';
import { type DeviceTarget, markRemoved, type PushPlatform, toTarget } from './devices.ts';
import { noPushMetrics, type PushMetrics } from './metrics.ts';
import { buildNotification } from './notification.ts';
import type { PushProvider, PushResult } from './providers/port.ts';

export interface PushDispatcherOptions {
  db: Db;
  config: PushConfig;
  connections: ConnectionRegistry;
  providers: Partial<Record<PushPlatform, PushProvider>>;
  /** Above this many members a channel pushes mentions only. */
  largeChannel: number;
  metrics?: PushMetrics;
  batchSize?: number;
  random?: () => number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** Floor of every lease: a decision calls only the store and the connection registry. */
const MIN_LEASE_MS = 5_000;
const MAX_ERROR = 300;

const CLAIM_PENDING = `
  UPDATE push_pending p SET lease_owner = $1, lease_until = now() + $2::int * interval '1 millisecond'
   WHERE p.id IN (
     SELECT id FROM push_pending
      WHERE (lease_until IS NULL OR lease_until < now())
        AND (created_at <= now() - $3::int * interval '1 millisecond'
             OR (NOT mentions_done AND cardinality(mentions) > 0
                 AND created_at <= now() - $4::int * interval '1 millisecond'))
      ORDER BY id LIMIT $5
      FOR UPDATE SKIP LOCKED)
  RETURNING p.id::text AS id, p.tenant_id, p.conversation_id, p.seq, p.sender_id, p.mentions, p.thread_root,
            p.created_at <= now() - $3::int * interval '1 millisecond' AS full`;

const CLAIM_DELIVERIES = `
  UPDATE push_deliveries SET lease_owner = $1, lease_until = now() + $2::int * interval '1 millisecond'
   WHERE id IN (
     SELECT id FROM push_deliveries
      WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
      ORDER BY id LIMIT $3
      FOR UPDATE SKIP LOCKED)
  RETURNING *`;

// When the next row falls due (ms from now, negative when overdue), or null when nothing waits
// (no GREATEST(0, …) here: it skips NULLs, so an idle dispatcher re-armed itself every 5 ms).
const NEXT_DUE = `
  SELECT CEIL(EXTRACT(EPOCH FROM (LEAST(
           (SELECT min(CASE WHEN NOT mentions_done AND cardinality(mentions) > 0
                            THEN created_at + $2::int * interval '1 millisecond'
                            ELSE created_at + $1::int * interval '1 millisecond' END) FROM push_pending),
           (SELECT min(next_attempt_at) FROM push_deliveries WHERE status = 'pending')) - now())) * 1000)::float8 AS ms`;

export class PushDispatcher {
  readonly nodeId = randomUUID();
  private readonly loop: DrainLoop;
  private readonly opts: Required<PushDispatcherOptions>;
  private inFlight = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private lastPrune = 0;

  constructor(opts: PushDispatcherOptions) {
    this.opts = {
      metrics: noPushMetrics,
      batchSize: 32,
      random: Math.random,
      now: Date.now,
      onError: () => {},
      ...opts,
    };
    this.loop = new DrainLoop({
      db: opts.db,
      channel: 'herald_push',
      pollMs: opts.config.pollMs,
      drain: () => this.drain(),
      onError: this.opts.onError,
    });
  }

  async start(): Promise<void> {
    this.inFlight = new AbortController();
    await this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  /** Twice the attempt timeout (an attempt always ends or is aborted within it), at least 5 s. */
  private lease(): number {
    return Math.max(MIN_LEASE_MS, 2 * this.opts.config.timeoutMs);
  }

  /** One round: decisions due, then sends due; returns how many of each. */
  async drain(): Promise<{ decided: number; attempted: number }> {
    const { db, config, batchSize } = this.opts;
    let decided = 0;
    let attempted = 0;
    while (!this.loop.stopped) {
      const { rows } = await db.query<PendingRow & Row>(CLAIM_PENDING, [
        this.nodeId,
        this.lease(),
        config.delayMs,
        config.mentionDelayMs,
        batchSize,
      ]);
      if (rows.length === 0) break;
      // One at a time: rows of one conversation must see each other's high-water marks.
      for (const r of rows) {
        const done = await decide(
          db,
          { ...r, seq: Number(r.seq), mentions: r.mentions ?? [], thread_root: r.thread_root ?? null },
          {
            nodeId: this.nodeId,
            connections: this.opts.connections,
            largeChannel: this.opts.largeChannel,
            now: this.opts.now,
          },
        );
        for (const s of done?.skips ?? []) this.opts.metrics.outcome(s.platform, `skipped_${s.reason}`);
        decided++;
      }
    }
    while (!this.loop.stopped) {
      const { rows } = await db.query(CLAIM_DELIVERIES, [this.nodeId, this.lease(), batchSize]);
      if (rows.length === 0) break;
      await Promise.all(rows.map((d) => this.attempt(d)));
      attempted += rows.length;
    }
    await this.prune();
    await this.scheduleNext();
    return { decided, attempted };
  }

  /**
   * Sends a test push to one device now (POST /v1/devices/{id}/test) and returns its log
   * row: the provider's answer, or pending with the next attempt when it should be retried.
   */
  async sendTest(tenant: string, user: string, device: string): Promise<PushDelivery> {
    const { rows } = await this.opts.db.query(
      `INSERT INTO push_deliveries (tenant_id, device_id, user_id, kind, status, lease_owner, lease_until)
       VALUES ($1, $2, $3, 'test', 'pending', $4, now() + $5::int * interval '1 millisecond') RETURNING *`,
      [tenant, device, user, this.nodeId, this.lease()],
    );
    return this.attempt(rows[0], new AbortController().signal);
  }

  private async attempt(d: Row, signal = this.inFlight.signal): Promise<PushDelivery> {
    const { db, config } = this.opts;
    const { rows: dev } = await db.query('SELECT * FROM push_devices WHERE tenant_id = $1 AND id = $2', [
      d.tenant_id,
      d.device_id,
    ]);
    const device = dev[0] ? toTarget(dev[0]) : null;
    if (!device || dev[0].removed_at) return this.finish(d, 'skipped', 'device_removed', device);
    const n = await buildNotification(
      db,
      {
        tenant_id: d.tenant_id as string,
        user_id: d.user_id as string,
        push_id: String(d.push_id),
        kind: d.kind as 'message' | 'test',
        conversation_id: (d.conversation_id as string | null) ?? null,
        thread_root: (d.thread_root as string | null) ?? null,
        last_seq: d.last_seq == null ? null : Number(d.last_seq),
      },
      config,
      this.opts.largeChannel,
    );
    if ('skip' in n) return this.finish(d, 'skipped', n.skip, device);
    const provider = this.opts.providers[device.platform];
    if (!provider)
      return this.finish(d, 'failed', `${device.platform} is not configured on this server`, device);
    const started = performance.now();
    let res: PushResult;
    try {
      res = await provider.send(device, n, signal);
    } catch (err) {
      const message = (err as Error).message || String(err);
      // The address policy refused the endpoint: that will not change by retrying.
      const refused = err instanceof HeraldError && err.code === 'WEBHOOK_URL_REFUSED';
      res = {
        outcome: refused ? 'failed' : 'retry',
        status: null,
        response: `${refused ? 'refused: ' : ''}${message}`.slice(0, MAX_ERROR),
      };
    }
    const latency = Math.round(performance.now() - started);
    if (signal.aborted) return toPushDelivery(d); // Stopped mid-attempt: stop() releases the lease.
    this.opts.metrics.latency(device.platform, latency);
    return this.record(d, device, res, latency);
  }

  private async record(
    d: Row,
    device: DeviceTarget,
    res: PushResult,
    latency: number,
  ): Promise<PushDelivery> {
    const { db, config } = this.opts;
    const attempts = Number(d.attempts) + 1;
    let status: 'sent' | 'invalid_token' | 'failed' | 'pending' =
      res.outcome === 'retry' ? 'pending' : res.outcome;
    let next = new Date();
    let reason: string | null = res.outcome === 'sent' ? null : (res.response ?? `HTTP ${res.status}`);
    if (status === 'pending') {
      const windowEnd = new Date(d.created_at as string).getTime() + config.retryWindowSec * 1000;
      const cap = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
      const at = Date.now() + Math.max(res.retryAfterMs ?? 0, this.opts.random() * cap);
      if (at >= windowEnd) {
        status = 'failed';
        reason = `gave up after ${attempts} attempts: ${reason}`;
      } else next = new Date(at);
    }
    this.opts.metrics.outcome(
      device.platform,
      res.outcome === 'retry' && status === 'failed' ? 'failed' : res.outcome,
    );
    const row = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `UPDATE push_deliveries SET status = $3, reason = $4, attempts = $5, next_attempt_at = $6::timestamptz,
                provider_status = $7, provider_response = $8, latency_ms = $9,
                finished_at = CASE WHEN $3::text = 'pending' THEN NULL ELSE now() END,
                lease_owner = NULL, lease_until = NULL
          WHERE id = $1::bigint AND lease_owner = $2 RETURNING *`,
        [
          d.id,
          this.nodeId,
          status,
          reason?.slice(0, MAX_ERROR) ?? null,
          attempts,
          next,
          res.status,
          res.response?.slice(0, MAX_ERROR) ?? null,
          latency,
        ],
      );
      // Lost the lease (it expired and another node took over): its outcome is the record.
      if (!rows[0]) return null;
      if (status === 'sent')
        await tx.query('UPDATE push_devices SET last_sent_at = now() WHERE tenant_id = $1 AND id = $2', [
          device.tenant_id,
          device.id,
        ]);
      if (status === 'invalid_token')
        await markRemoved(
          tx,
          device.tenant_id,
          device.id,
          `${device.platform}: ${reason ?? 'invalid token'}`,
        );
      return rows[0];
    });
    return toPushDelivery(row ?? d);
  }

  private async finish(
    d: Row,
    status: 'skipped' | 'failed',
    reason: string,
    device: DeviceTarget | null,
  ): Promise<PushDelivery> {
    this.opts.metrics.outcome(
      device?.platform ?? 'unknown',
      status === 'skipped' ? `skipped_${reason}` : 'failed',
    );
    const { rows } = await this.opts.db.query(
      `UPDATE push_deliveries SET status = $3, reason = $4, finished_at = now(), lease_owner = NULL, lease_until = NULL
        WHERE id = $1::bigint AND lease_owner = $2 RETURNING *`,
      [d.id, this.nodeId, status, reason],
    );
    return toPushDelivery(rows[0] ?? d);
  }

  private async prune(): Promise<void> {
    if (Date.now() - this.lastPrune < 60_000) return;
    this.lastPrune = Date.now();
    const sec = this.opts.config.logRetentionSec;
    await this.opts.db.query(
      `DELETE FROM push_deliveries WHERE status <> 'pending' AND created_at < now() - $1::int * interval '1 second'`,
      [sec],
    );
    await this.opts.db.query(
      `DELETE FROM push_devices WHERE removed_at < now() - $1::int * interval '1 second'`,
      [sec],
    );
  }

  /** A timer for the next row that falls due, so a delay ends on time rather than at the next poll. */
  private async scheduleNext(): Promise<void> {
    if (this.loop.stopped) return;
    const { rows } = await this.opts.db.query<{ ms: number | null }>(NEXT_DUE, [
      this.opts.config.delayMs,
      this.opts.config.mentionDelayMs,
    ]);
    const ms = rows[0]?.ms;
    if (ms == null || ms >= this.opts.config.pollMs) return; // The poll comes first anyway.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.wake();
      },
      Math.max(ms, 5),
    );
    this.timer.unref();
  }

  /**
   * Stops, aborts attempts in flight and releases their leases. `abandon: true` leaves the
   * leases as a crash would: they expire by themselves.
   */
  async stop(opts: { abandon?: boolean } = {}): Promise<void> {
    await this.loop.stop(() => this.inFlight.abort());
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!opts.abandon) {
      await this.opts.db.query(
        `UPDATE push_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND status = 'pending'`,
        [this.nodeId],
      );
      await this.opts.db.query(
        'UPDATE push_pending SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1',
        [this.nodeId],
      );
    }
    for (const p of Object.values(this.opts.providers)) await p?.close?.();
  }
}
