// The webhook dispatcher: host-level, started with the node, driven by the committed
// delivery rows (migration 007), never by a request handler. Woken by NOTIFY with a polling
// fallback; several nodes may run one each.
//
// A stream (an endpoint's conversation, reader marker or notice) is delivered in id order,
// one attempt at a time: only a stream's oldest pending row — its head — is ever claimed, so
// a failing event holds back the later events of its conversation for that endpoint and
// nothing else. A claim is a lease (`lease_until`) taken with FOR UPDATE SKIP LOCKED and
// committed before the HTTP request, so no transaction stays open across the network; a node
// that dies mid-attempt leaves a lease that expires after twice the timeout, and the
// head is claimed again by whoever runs next: at-least-once, with the same webhook-id.
import { randomUUID } from 'node:crypto';
import type { WebhookConfig } from '../config.ts';
import type { Db, Row } from '../store/db.ts';
import { DrainLoop } from '../store/drain-loop.ts';
import type { AddressPolicy } from './address-policy.ts';
import { noticeDisabled } from './disabled-notice.ts';
import { buildPayload, type DeliverySource } from './events.ts';
import type { AttemptReport } from './metrics.ts';
import { attemptDelivery } from './sender.ts';

export interface DispatcherOptions {
  db: Db;
  config: WebhookConfig;
  policy: AddressPolicy;
  /** Heads claimed per round; attempts of one round run concurrently. */
  batchSize?: number;
  /** Uniform [0, 1): the jitter source. */
  random?: () => number;
  onError?: (err: unknown) => void;
  /** An endpoint was disabled for failing (the host logs it). */
  onDisabled?: (e: { tenant_id: string; endpoint_id: string; url: string }) => void;
  /** Each attempt whose outcome this dispatcher recorded (metrics). */
  onAttempt?: (r: AttemptReport) => void;
}

interface Claimed extends DeliverySource, Row {
  id: string;
  endpoint_id: string;
  event_id: string;
  attempts: number;
  window_started_at: Date;
  url: string;
  secret: string;
}

// Heads only: the oldest pending row of each (endpoint, stream). A head another dispatcher
// holds (row lock or live lease) is skipped, and its stream's later rows are not heads, so
// two nodes never send one stream out of order.
const CLAIM = `
  UPDATE webhook_deliveries w SET lease_owner = $1, lease_until = now() + $2::int * interval '1 millisecond'
    FROM webhook_endpoints e
   WHERE e.tenant_id = w.tenant_id AND e.id = w.endpoint_id
     AND w.id IN (
       SELECT d.id FROM webhook_deliveries d
        WHERE d.id IN (SELECT DISTINCT ON (p.tenant_id, p.endpoint_id, p.stream) p.id
                         FROM webhook_deliveries p WHERE p.status = 'pending'
                        ORDER BY p.tenant_id, p.endpoint_id, p.stream, p.id)
          AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.lease_until IS NULL OR d.lease_until < now())
          AND EXISTS (SELECT 1 FROM webhook_endpoints x
                       WHERE x.tenant_id = d.tenant_id AND x.id = d.endpoint_id AND x.enabled)
        ORDER BY d.id LIMIT $3
        FOR UPDATE OF d SKIP LOCKED)
  RETURNING w.id::text AS id, w.tenant_id, w.endpoint_id, w.event_id, w.event_type, w.conversation_id, w.seq,
            w.notice_id, w.data, w.attempts, w.window_started_at, w.created_at, e.url, e.secret`;

export class WebhookDispatcher {
  readonly nodeId = randomUUID();
  private readonly opts: Required<Omit<DispatcherOptions, 'onDisabled' | 'onAttempt'>> &
    Pick<DispatcherOptions, 'onDisabled' | 'onAttempt'>;
  private readonly loop: DrainLoop;
  private lastPrune = 0;
  private inFlight = new AbortController();

  constructor(opts: DispatcherOptions) {
    this.opts = { batchSize: 32, random: Math.random, onError: () => {}, ...opts };
    this.loop = new DrainLoop({
      db: this.opts.db,
      channel: 'herald_webhooks',
      pollMs: this.opts.config.pollMs,
      drain: () => this.drain(),
      onError: this.opts.onError,
    });
  }

  private get stopped(): boolean {
    return this.loop.stopped;
  }

  async start(): Promise<void> {
    this.inFlight = new AbortController();
    await this.loop.start();
  }

  /** Runs a round now, or once more after the current one. */
  wake(): void {
    this.loop.wake();
  }

  /** Attempts every head that is due now; returns the number of attempts made. */
  async drain(): Promise<number> {
    let total = 0;
    while (!this.stopped) {
      // Twice the attempt timeout: an attempt in flight always ends (or is aborted) within it.
      const lease = 2 * this.opts.config.timeoutMs;
      const { rows } = await this.opts.db.query<Claimed>(CLAIM, [this.nodeId, lease, this.opts.batchSize]);
      if (rows.length === 0) break;
      await Promise.all(rows.map((d) => this.attempt(d)));
      total += rows.length;
    }
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      // Finished deliveries leave the log after the retention; pending ones never do.
      await this.opts.db.query(
        `DELETE FROM webhook_deliveries WHERE status <> 'pending'
            AND created_at < now() - $1::int * interval '1 second'`,
        [this.opts.config.logRetentionSec],
      );
    }
    return total;
  }

  private async attempt(d: Claimed): Promise<void> {
    const { db, config, policy } = this.opts;
    const body = await buildPayload(db, d);
    const res = await attemptDelivery(policy, {
      url: d.url,
      secret: d.secret,
      id: d.event_id,
      body,
      timeoutMs: config.timeoutMs,
      signal: this.inFlight.signal,
    });
    if (this.inFlight.signal.aborted) return; // Stopped mid-attempt: the lease is released by stop().
    const attempts = Number(d.attempts) + 1;
    const now = Date.now();
    const windowEnd = new Date(d.window_started_at).getTime() + config.retryWindowSec * 1000;
    let status: 'delivered' | 'pending' | 'dead' = 'delivered';
    let next = now;
    if (!res.ok) {
      // Exponential backoff with full jitter, and one last attempt at the end of the window.
      const cap = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.min(attempts - 1, 40));
      next = Math.min(now + this.opts.random() * cap, windowEnd);
      status = now >= windowEnd ? 'dead' : 'pending';
    }
    let recorded = false;
    const disabled = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5::timestamptz,
                last_attempt_at = now(), last_status_code = $6, last_error = $7, last_latency_ms = $8,
                delivered_at = CASE WHEN $3::text = 'delivered' THEN now() ELSE delivered_at END,
                lease_owner = NULL, lease_until = NULL
          WHERE id = $1::bigint AND lease_owner = $2 RETURNING id`,
        [d.id, this.nodeId, status, attempts, new Date(next), res.status, res.error, res.latencyMs],
      );
      // Lost the lease (it expired and another node took the head): its outcome is the record.
      if (!rows[0]) return null;
      recorded = true;
      if (res.ok) {
        await tx.query(
          'UPDATE webhook_endpoints SET failing_since = NULL, last_success_at = now() WHERE tenant_id = $1 AND id = $2',
          [d.tenant_id, d.endpoint_id],
        );
        return null;
      }
      await tx.query(
        `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now() - $3::int * interval '1 millisecond')
          WHERE tenant_id = $1 AND id = $2`,
        [d.tenant_id, d.endpoint_id, res.latencyMs],
      );
      if (status !== 'dead') return null;
      // Disable policy: a dead letter on an endpoint that took no request at all during that
      // delivery's whole retry window. One poisoned event on a healthy endpoint is
      // dead-lettered, not a reason to stop the others.
      const { rows: off } = await tx.query<{ url: string }>(
        `UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'failing', disabled_at = now(),
                updated_at = now()
          WHERE tenant_id = $1 AND id = $2 AND enabled
            AND (last_success_at IS NULL OR last_success_at < $3::timestamptz)
          RETURNING url`,
        [d.tenant_id, d.endpoint_id, new Date(d.window_started_at)],
      );
      if (!off[0]) return null;
      const disabled = { tenant_id: d.tenant_id, endpoint_id: d.endpoint_id, url: off[0].url };
      // The tenant's admins are told, and the audit log records it, in this transaction.
      await noticeDisabled(tx, disabled);
      return disabled;
    });
    if (recorded) {
      const outcome = status === 'pending' ? 'failed' : status;
      this.opts.onAttempt?.({ outcome, latencyMs: res.latencyMs, disabled: disabled !== null });
    }
    if (disabled) this.opts.onDisabled?.(disabled);
  }

  /**
   * Stops claiming, aborts attempts in flight and releases their leases (so another node
   * takes them at once). `abandon: true` leaves the leases as a crash would: they expire
   * after twice the attempt timeout.
   */
  async stop(opts: { abandon?: boolean } = {}): Promise<void> {
    await this.loop.stop(() => this.inFlight.abort());
    if (!opts.abandon)
      await this.opts.db.query(
        `UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL
          WHERE lease_owner = $1 AND status = 'pending'`,
        [this.nodeId],
      );
  }
}
