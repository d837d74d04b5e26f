// Where a node is in its life: serving, draining after SIGTERM (clients are told to move;
// /readyz answers 503 so a load balancer stops routing here, while requests in flight and
// on open connections are still served), or closing (new requests are refused in the
// catalog's shape instead of Fastify's own 503 body).
export type Phase = 'running' | 'draining' | 'closing';

export class Lifecycle {
  phase: Phase = 'running';
  private reason = '';

  /** Called by serve() on SIGTERM/SIGINT, before the gateway drains. */
  drain(signal: string, graceMs: number): void {
    if (this.phase !== 'running') return;
    this.phase = 'draining';
    this.reason = `The node is draining (${signal}) and stops within ${Math.ceil(graceMs / 1000)} s: send new requests to another node.`;
  }

  closing(): void {
    this.phase = 'closing';
    this.reason ||= 'The node is shutting down: send new requests to another node.';
  }

  /** Why the node is not taking new work, or null while it runs. */
  notServing(): string | null {
    return this.phase === 'running' ? null : this.reason;
  }
}
