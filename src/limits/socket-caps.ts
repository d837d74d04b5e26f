// Admission of sockets under the per-user and per-tenant caps. A socket
// (WebSocket or SSE stream) takes a slot when it authenticates and gives it
// back when it closes; while it lives this node refreshes the slot's expiry,
// so a node that dies stops holding its slots after `ttlMs`.
import { randomUUID } from 'node:crypto';
import type { SocketCaps, SocketSlots } from './port.ts';

export interface Lease {
  /** Gives the slot back; idempotent. */
  release(): void;
}

export type AdmitResult = { ok: true; lease: Lease } | { ok: false; over: 'user' | 'tenant' };

export interface SocketAdmissionOptions {
  slots: SocketSlots;
  caps: SocketCaps;
  /** A slot not refreshed for this long is free again (a crashed node's sockets). */
  ttlMs: number;
  /** How often held slots are refreshed (well under ttlMs). */
  refreshMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

const NO_LEASE: Lease = { release() {} };

/** A held slot (one per open socket: a class, not a closure per socket). */
class SlotLease implements Lease {
  constructor(
    private readonly admission: SocketAdmission,
    readonly tenant: string,
    readonly user: string,
    readonly id: string,
  ) {}

  release(): void {
    this.admission.release(this);
  }
}

export class SocketAdmission {
  /** Slots held by this node's sockets, by slot id. */
  private readonly held = new Map<string, SlotLease>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;

  constructor(private readonly o: SocketAdmissionOptions) {
    this.now = o.now ?? Date.now;
    this.onError = o.onError ?? (() => {});
    this.timer = setInterval(() => void this.refresh(), o.refreshMs);
    this.timer.unref();
  }

  get caps(): SocketCaps {
    return this.o.caps;
  }

  async admit(tenant: string, user: string): Promise<AdmitResult> {
    const { caps } = this.o;
    if (caps.perUser <= 0 && caps.perTenant <= 0) return { ok: true, lease: NO_LEASE };
    const id = randomUUID();
    const res = await this.o.slots.acquire(tenant, user, id, caps, this.o.ttlMs, this.now());
    if (!res.ok) return res;
    const lease = new SlotLease(this, tenant, user, id);
    this.held.set(id, lease);
    return { ok: true, lease };
  }

  /** Gives a held slot back (once). */
  release(lease: SlotLease): void {
    if (!this.held.delete(lease.id)) return;
    this.o.slots.release(lease.tenant, lease.user, lease.id).catch(this.onError);
  }

  private async refresh(): Promise<void> {
    const byTenant = new Map<string, { user: string; id: string }[]>();
    for (const [id, h] of this.held) {
      const list = byTenant.get(h.tenant) ?? [];
      list.push({ user: h.user, id });
      byTenant.set(h.tenant, list);
    }
    const now = this.now();
    for (const [tenant, list] of byTenant) {
      await this.o.slots.refresh(tenant, list, this.o.ttlMs, now).catch(this.onError);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
