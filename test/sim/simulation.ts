// The deterministic simulation: several Herald nodes in one process, sharing one store and
// one simulated bus, with clients running the real SDK. See docs/reliability.md (Deterministic simulation).
//
// Level: each node is the real delivery code below the transports — domain commands
// (src/domain), the outbox relay (drain() is a scheduler step), the gateway core, topic hub
// and sessions (src/gateway: replay→live switch, resync after a bus loss) on in-process
// sinks — and each client is the real HeraldClient (src/client: state machine, outbox and
// resend by client_id, gap detection and HTTP catch-up) over an in-process WebSocket and a
// fetch that runs the events route's queries. Fastify and `ws` are left out: they are
// transports, not delivery logic, and they would put real I/O timing into the outcome.
//
// Determinism: one seed drives the operations, every fault, every delivery order and the
// ids the server generates. Every store call parks until the scheduler releases it; bus
// messages, socket frames and HTTP replies sit in queues until the scheduler delivers them;
// SDK timers run on a virtual clock. The scheduler takes one step at a time and waits for
// quiescence (no store call running, nothing new happening over a setImmediate turn) before
// drawing the next.
import { createHash } from 'node:crypto';
import { HeraldClient } from '../../src/client/client.ts';
import type { SentMessage } from '../../src/client/outbox.ts';
import type { AppliedEvent } from '../../src/client/subscription.ts';
import { readableConversation } from '../../src/domain/access.ts';
import type { DomainDeps } from '../../src/domain/commands.ts';
import {
  addMembers,
  createConversation,
  getDirect,
  join,
  removeMember,
} from '../../src/domain/conversations.ts';
import { deleteMessage, editMessage } from '../../src/domain/edits.ts';
import { defaultLimits, type Limits } from '../../src/domain/limits.ts';
import type { ViewingRegistry } from '../../src/domain/ports.ts';
import { GatewayCore } from '../../src/gateway/core.ts';
import { HeraldError } from '../../src/protocol/index.ts';
import { memoryViewing } from '../../src/registry/memory-viewing.ts';
import { OutboxRelay } from '../../src/relay/outbox-relay.ts';
import type { Db } from '../../src/store/db.ts';
import { pgStore } from '../../src/store/pg/index.ts';
import { checkInvariants } from './checks.ts';
import { Clock } from './clock.ts';
import { Conn, type NetHost, SimSocket, TENANT, TOKEN_PREFIX } from './network.ts';
import { Rng, seededUuids } from './prng.ts';
import { SimBroker, SimBusConn } from './sim-bus.ts';
import { NodeCrashed, type Parked, SimDb, type StoreFault, type StoreGate } from './sim-db.ts';

/** Fault rates of one run, drawn from its seed: some seeds are calm, some stormy. */
export interface Faults {
  /** Per released store call: it fails (before, mid-transaction, or after commit). */
  store: number;
  /** Per publish: the bus refuses it (the relay's batch rolls back and is retried). */
  publish: number;
  /** Scheduler weights of the disruptive steps. */
  msgDrop: number;
  msgDup: number;
  msgReorder: number;
  crash: number;
  busLoss: number;
  connCut: number;
}

export interface SimOptions {
  nodes?: number;
  users?: number;
  /** Client operations in the faulty phase. */
  ops?: number;
  /** A bound on steps; a run that needs more has not converged (a livelock is a failure). */
  maxSteps?: number;
  /** Print each step (debugging a seed). */
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failures: string[];
  steps: number;
  ops: number;
  /** Hash of every step taken and its outcome: equal for two runs of one seed. */
  digest: string;
  stats: Record<string, number>;
  faults: Faults;
}

export const LIMITS: Limits = { ...defaultLimits, replayLimit: 4 };

interface SimNode {
  name: string;
  up: boolean;
  db: SimDb;
  bus: SimBusConn;
  core: GatewayCore;
  relay: OutboxRelay;
  draining: boolean;
  conns: Conn[];
}

export interface SimUser {
  name: string;
  client: HeraldClient;
  /** Per conversation: every event the SDK applied, in the order it applied them. */
  applied: Map<string, { seq: number; key: string }[]>;
  acked: SentMessage[];
  /** Sends the app will try again with the same client_id (it would, on a retryable error). */
  retry: { conversation: string; client_id: string; body: string; tries: number }[];
  sent: number;
}

export interface ConversationInfo {
  id: string;
  kind: 'direct' | 'group' | 'channel';
}

const RETRYABLE = new Set(['INTERNAL', 'STORE_UNAVAILABLE', 'DISCONNECTED', 'NETWORK_ERROR', 'RATE_LIMITED']);

export class World implements StoreGate, NetHost {
  outstanding = 0;
  activity = 0;
  readonly rng: Rng;
  readonly clock = new Clock();
  readonly broker = new SimBroker();
  readonly nodes: SimNode[] = [];
  readonly users: SimUser[] = [];
  conversations: ConversationInfo[] = [];
  readonly failures: string[] = [];
  readonly stats: Record<string, number> = {};
  readonly faults: Faults;
  private parked: Parked[] = [];
  private dials: SimSocket[] = [];
  private readonly viewing: ViewingRegistry;
  private readonly hash = createHash('sha256');
  private faultsOn = true;
  steps = 0;
  private connIds = 0;

  constructor(
    readonly base: Db,
    readonly seed: number,
    private readonly opts: Required<Omit<SimOptions, 'trace'>> & Pick<SimOptions, 'trace'>,
  ) {
    this.rng = new Rng(seed);
    const r = this.rng;
    const rate = (p: number, max: number) => (r.chance(p) ? max * r.next() : 0);
    this.faults = {
      store: rate(0.6, 0.12),
      publish: rate(0.4, 0.1),
      msgDrop: rate(0.5, 0.6),
      msgDup: rate(0.5, 0.8),
      msgReorder: rate(0.5, 1.5),
      crash: rate(0.4, 0.15),
      busLoss: rate(0.4, 0.15),
      connCut: rate(0.5, 0.3),
    };
    this.viewing = memoryViewing(60_000, this.clock.now);
    this.broker.publishFault = () => this.faultsOn && this.rng.chance(this.faults.publish);
  }

  // ---- bookkeeping ---------------------------------------------------------------------

  count(name: string, n = 1): void {
    this.stats[name] = (this.stats[name] ?? 0) + n;
  }

  fail(message: string): void {
    if (this.failures.length < 20) this.failures.push(message);
  }

  /** Adds a step to the digest; `detail` is computed for traces only. */
  private record(line: string, detail?: () => string): void {
    this.hash.update(line);
    this.hash.update('\n');
    if (this.opts.trace) this.opts.trace(`${this.steps} ${line}${detail ? ` ${detail()}` : ''}`);
  }

  digest(): string {
    return this.hash.digest('hex').slice(0, 16);
  }

  park(p: Parked): void {
    this.parked.push(p);
    this.activity++;
  }

  dial(socket: SimSocket): void {
    this.dials.push(socket);
    this.activity++;
  }

  deps(node: SimNode): DomainDeps {
    return {
      db: node.db,
      ...pgStore,
      limits: LIMITS,
      viewing: this.viewing,
    };
  }

  // ---- nodes -----------------------------------------------------------------------------

  startNode(name: string): SimNode {
    const db = new SimDb(this.base, this, name);
    const bus = new SimBusConn(this.broker, name);
    const core = new GatewayCore({
      deps: {
        db,
        ...pgStore,
        limits: LIMITS,
        viewing: this.viewing,
      },
      bus,
      sendLimiter: { async take() {} },
      tokens: {
        async verify() {
          throw new Error('the simulation hands sessions their identity directly');
        },
      },
      nodeId: name,
      now: this.clock.now,
      // The core's own timers run on real time: keep them out of the way.
      presenceFlushMs: 2_000_000_000,
      pingIntervalMs: 2_000_000_000,
      largeChannelCheckMs: 2_000_000_000,
    });
    const relay = new OutboxRelay({ db, bus, batchSize: 3 });
    const node: SimNode = { name, up: true, db, bus, core, relay, draining: false, conns: [] };
    const i = this.nodes.findIndex((n) => n.name === name);
    if (i >= 0) this.nodes[i] = node;
    else this.nodes.push(node);
    return node;
  }

  private crash(node: SimNode): void {
    node.up = false;
    node.db.kill();
    for (const c of node.conns) c.crash();
    node.conns = [];
    void node.bus.close();
    void node.core.close();
    this.count('crash');
  }

  // ---- clients -----------------------------------------------------------------------

  addUser(name: string): SimUser {
    const world = this;
    const WS = class extends SimSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(world, url, protocols);
      }
    };
    let n = 0;
    const client = new HeraldClient({
      url: 'http://herald.sim',
      token: `${TOKEN_PREFIX}${name}`,
      deviceId: `${name}-dev`,
      WebSocket: WS,
      fetch: (input, init) => this.fetch(name, input, init),
      timers: this.clock,
      random: () => this.rng.next(),
      inbox: false,
      notices: false,
      heartbeat: false,
      pingIntervalMs: 0,
      pageSize: 3,
      createClientId: () => `${name}-k${++n}`,
      // The simulated network carries WebSockets only, and a client lives for one run.
      fallback: false,
      storage: false,
    });
    const user: SimUser = { name, client, applied: new Map(), acked: [], retry: [], sent: 0 };
    client.on('event', (e: AppliedEvent) => {
      const list = user.applied.get(e.conversation) ?? [];
      list.push({ seq: e.seq, key: eventKey(e.event) });
      user.applied.set(e.conversation, list);
    });
    client.on('error', (err) => this.count(`client_error_${err.code}`));
    this.users.push(user);
    return user;
  }

  /** The last seq this user's SDK applied in a conversation (0: none). */
  lastApplied(user: SimUser, conversation: string): number {
    const list = user.applied.get(conversation);
    return list?.length ? list[list.length - 1].seq : 0;
  }

  /** The app follows a conversation, resuming from what it already holds. */
  open(user: SimUser, conversation: string): void {
    user.client.open(conversation, { sinceSeq: this.lastApplied(user, conversation) });
  }

  send(
    user: SimUser,
    conversation: string,
    body: string,
    clientId?: string,
    tries = 0,
    opts: { mentions?: boolean } = {},
  ): void {
    const mentionable = this.users.filter((u) => u !== user).map((u) => u.name);
    const mentions =
      !clientId && opts.mentions !== false && this.rng.chance(0.2) ? [this.rng.pick(mentionable)] : undefined;
    const m = user.client.send(conversation, body, { client_id: clientId, mentions });
    user.sent++;
    m.done.then(
      (r) => {
        user.acked.push(r);
        this.count('acked');
      },
      (err: { code?: string }) => {
        this.count(`send_failed_${err.code}`);
        if (RETRYABLE.has(String(err.code)) && tries < 4)
          user.retry.push({ conversation, client_id: m.client_id, body, tries: tries + 1 });
      },
    );
  }

  /** The events route (GET /v1/conversations/{id}/events), on some live node, as fetch. */
  private async fetch(user: string, input: string, init: RequestInit): Promise<Response> {
    const live = this.nodes.filter((n) => n.up);
    if (live.length === 0) throw new TypeError('fetch failed: no node');
    const node = this.rng.pick(live);
    const url = new URL(input);
    const signal = init.signal ?? null;
    const m = /^\/v1\/conversations\/([^/]+)\/events$/.exec(url.pathname);
    if (!m || init.method !== 'GET')
      throw new Error(`sim: unexpected request ${init.method} ${url.pathname}`);
    const conversation = decodeURIComponent(m[1]);
    const aborted = () => signal?.aborted === true;
    const work = (async () => {
      const { conversations } = pgStore.reads(node.db);
      const { conversation: conv } = await readableConversation(conversations, TENANT, user, conversation);
      const page = await conversations.events(
        TENANT,
        conv.id,
        Number(url.searchParams.get('after_seq') ?? 0),
        Number(url.searchParams.get('limit') ?? 100),
      );
      return { conversation: conv.id, events: page.events, head_seq: conv.last_seq, has_more: page.has_more };
    })();
    try {
      const body = await work;
      if (aborted()) throw new DOMException('aborted', 'AbortError');
      return new Response(JSON.stringify(body), { status: 200 });
    } catch (err) {
      if (aborted() || err instanceof NodeCrashed) throw new TypeError('fetch failed');
      if (err instanceof HeraldError)
        return new Response(JSON.stringify(err.toBody()), { status: err.status });
      return new Response(JSON.stringify({ error: { code: 'INTERNAL', message: 'Internal error.' } }), {
        status: 500,
      });
    }
  }

  // ---- the scheduler ---------------------------------------------------------------------

  /** Waits until nothing runs: no store call in flight, no new activity over a setImmediate turn. */
  async quiesce(): Promise<void> {
    for (let i = 0; ; i++) {
      const before = this.activity;
      await new Promise<void>((r) => setImmediate(r));
      if (this.outstanding === 0 && this.activity === before) return;
      if (i > 200_000) throw new Error('no quiescence');
    }
  }

  private liveConns(): Conn[] {
    const out: Conn[] = [];
    for (const n of this.nodes) for (const c of n.conns) if (c.open) out.push(c);
    return out;
  }

  /**
   * One scheduler step: the candidates are everything that could happen next; the seed picks
   * one; it runs; the world settles. Returns false when nothing can happen.
   */
  async step(phase: 'run' | 'settle', op: (() => void) | null): Promise<boolean> {
    const f = this.faults;
    const faulty = phase === 'run';
    const conns = this.liveConns();
    const up = conns.filter((c) => c.up.length > 0);
    const down = conns.filter((c) => c.down.length > 0);
    const buses = this.nodes.filter((n) => n.up && n.bus.queue.length > 0);
    const relays = this.nodes.filter((n) => n.up && !n.draining);
    const horizon = this.clock.now() + 30_000;
    const timerDue = this.clock.nextAt() !== null && (faulty || (this.clock.nextAt() as number) <= horizon);
    const candidates: [number, () => Promise<void> | void][] = [];
    const add = (w: number, run: () => Promise<void> | void) => {
      if (w > 0) candidates.push([w, run]);
    };
    add(this.parked.length ? 4 : 0, () => this.releaseOne());
    add(this.dials.length ? 2 : 0, () => this.acceptOne());
    add(up.length ? 3 : 0, () => {
      const c = this.rng.pick(up);
      this.record(`up ${c.id}`);
      c.stepUp();
    });
    add(down.length ? 3 : 0, () => {
      const c = this.rng.pick(down);
      this.record(`down ${c.id}`, () => `${c.socket.user} ${describe(c.down[0])}`);
      c.stepDown();
    });
    add(buses.length ? 3 : 0, () => {
      const n = this.rng.pick(buses);
      const d = n.bus.deliver(0, false);
      this.record(
        `bus ${n.name} ${d.id}`,
        () => `${d.topic.split(':').pop()?.slice(0, 4)} ${describe(d.payload)}`,
      );
    });
    add(faulty && phase === 'run' ? (relays.length ? 0.3 : 0) : 0, () => this.drain(this.rng.pick(relays)));
    add(timerDue ? (faulty ? 0.4 : 1) : 0, () => {
      this.record(`timer @${this.clock.nextAt()}`);
      this.clock.fireNext();
    });
    if (op) add(2, op);
    if (faulty) {
      const anyQueued = buses.length > 0;
      add(anyQueued ? f.msgDrop : 0, () => {
        const n = this.rng.pick(buses);
        const d = n.bus.drop(this.rng.int(n.bus.queue.length));
        this.record(
          `bus-drop ${n.name} ${d.id}`,
          () => `${d.topic.split(':').pop()?.slice(0, 4)} ${describe(d.payload)}`,
        );
        this.count('bus_drop');
      });
      add(anyQueued ? f.msgDup : 0, () => {
        const n = this.rng.pick(buses);
        const d = n.bus.deliver(this.rng.int(n.bus.queue.length), true);
        this.record(`bus-dup ${n.name} ${d.id}`);
        this.count('bus_dup');
      });
      add(buses.some((n) => n.bus.queue.length > 1) ? f.msgReorder : 0, () => {
        const n = this.rng.pick(buses.filter((b) => b.bus.queue.length > 1));
        const d = n.bus.deliver(1 + this.rng.int(n.bus.queue.length - 1), false);
        this.record(`bus-reorder ${n.name} ${d.id}`);
        this.count('bus_reorder');
      });
      const live = this.nodes.filter((n) => n.up);
      const dead = this.nodes.filter((n) => !n.up);
      add(live.length > 1 ? f.crash : 0, () => {
        const n = this.rng.pick(live);
        this.record(`crash ${n.name}`);
        this.crash(n);
      });
      add(dead.length ? 0.3 : 0, () => {
        const n = this.rng.pick(dead);
        this.record(`restart ${n.name}`);
        this.startNode(n.name);
      });
      const connected = live.filter((n) => n.bus.connected);
      const lost = live.filter((n) => !n.bus.connected);
      add(connected.length ? f.busLoss : 0, () => {
        const n = this.rng.pick(connected);
        this.record(`bus-lose ${n.name}`);
        n.bus.lose();
        this.count('bus_loss');
      });
      add(lost.length ? 0.5 : 0, () => {
        const n = this.rng.pick(lost);
        this.record(`bus-restore ${n.name}`);
        n.bus.restore();
      });
      add(conns.length ? f.connCut : 0, () => {
        const c = this.rng.pick(conns);
        this.record(`cut ${c.id}`);
        c.cut();
        this.count('conn_cut');
      });
    }
    if (candidates.length === 0) return false;
    const i = this.rng.weighted(candidates.map((c) => c[0]));
    this.steps++;
    await candidates[i][1]();
    await this.quiesce();
    return true;
  }

  private releaseOne(): void {
    const i = this.rng.int(this.parked.length);
    const p = this.parked.splice(i, 1)[0];
    let fault: StoreFault = 'none';
    let failAt = 0;
    if (this.faultsOn && this.rng.chance(this.faults.store)) {
      fault = this.rng.pick(['before', 'during', 'after-commit'] as const);
      failAt = this.rng.int(3);
      this.count(`store_fault_${fault}`);
    }
    this.record(`db ${p.node} ${p.label} ${fault}${fault === 'during' ? failAt : ''}`);
    p.release(fault, failAt);
  }

  private async acceptOne(): Promise<void> {
    const socket = this.dials.shift() as SimSocket;
    const live = this.nodes.filter((n) => n.up);
    if (live.length === 0 || (this.faultsOn && this.rng.chance(this.faults.connCut / 4))) {
      this.record(`dial-refused ${socket.user}`);
      socket.closed(1006, 'no node');
      return;
    }
    const node = this.rng.pick(live);
    const conn = new Conn(++this.connIds, this, node.name, node.core, socket);
    node.conns.push(conn);
    this.record(`accept ${socket.user} ${node.name} ${conn.id}`);
    await conn.accept();
  }

  /** A relay drain on a node, as a step; its store calls park like any other. */
  private drain(node: SimNode): void {
    this.record(`drain ${node.name}`);
    node.draining = true;
    node.relay
      .drain()
      .then(
        (n) => this.count('published', n),
        () => this.count('drain_failed'),
      )
      .finally(() => {
        node.draining = false;
      });
  }

  /** Drains every live relay until one pass publishes nothing (the settle phase's end test). */
  async drainAll(): Promise<number> {
    let total = 0;
    // Any live relay can drain every partition: one of them, as the seed picks.
    for (const node of [this.rng.pick(this.nodes.filter((n) => n.up))]) {
      let done = false;
      let published = 0;
      node.draining = true;
      this.record(`drain ${node.name}`);
      node.relay
        .drain()
        .then((n) => {
          published = n;
        })
        .finally(() => {
          done = true;
          node.draining = false;
        });
      await this.quiesce();
      while (!done) {
        if (!(await this.step('settle', null))) await this.quiesce();
      }
      total += published;
    }
    return total;
  }

  // ---- phases ----------------------------------------------------------------------------

  /** Runs queued work (no faults) until nothing is left: no frames, parks, due timers or unpublished rows. */
  async settle(): Promise<void> {
    this.faultsOn = false;
    for (;;) {
      while (await this.step('settle', null)) {
        if (this.steps > this.opts.maxSteps)
          throw new Error(`no convergence within ${this.opts.maxSteps} steps`);
      }
      if ((await this.drainAll()) === 0 && this.parked.length === 0 && !this.busy()) return;
    }
  }

  private busy(): boolean {
    if (this.dials.length || this.parked.length) return true;
    if (this.liveConns().some((c) => c.up.length || c.down.length)) return true;
    if (this.nodes.some((n) => n.up && n.bus.queue.length)) return true;
    const next = this.clock.nextAt();
    return next !== null && next <= this.clock.now() + 30_000;
  }

  /** The faulty phase: ops interleaved with everything else, until `ops` have run. */
  async run(ops: number): Promise<number> {
    let done = 0;
    while (done < ops) {
      const progressed = await this.step('run', () => {
        done++;
        this.randomOp();
      });
      if (!progressed) break;
      if (this.steps > this.opts.maxSteps) throw new Error(`more than ${this.opts.maxSteps} steps`);
    }
    return done;
  }

  /** The end of the storm: heal every fault, as operations would, and let the system converge. */
  async heal(): Promise<void> {
    this.faultsOn = false;
    for (const n of [...this.nodes]) {
      if (!n.up) {
        this.record(`restart ${n.name}`);
        this.startNode(n.name);
      } else if (!n.bus.connected) {
        this.record(`bus-restore ${n.name}`);
        n.bus.restore();
      }
    }
    // The app: reconnect if it gave up, retry failed sends, follow every conversation it is in.
    for (const u of this.users) {
      if (u.client.state === 'disconnected') u.client.connect();
      this.retryAll(u);
    }
    await this.openMemberships();
    await this.quiesce();
    await this.settle();
    // A final message in every conversation: a subscriber that missed the tail learns of the
    // hole from it (gap detection, as the delivery contract says) and repairs it.
    // Membership changes that committed with their reply lost are learnt from the inbox by a
    // real app: follow them now too.
    await this.openMemberships();
    await this.quiesce();
    await this.settle();
    const members = await this.members();
    for (const c of this.conversations) {
      const member = this.users.find((u) => members.get(c.id)?.has(u.name));
      // No random mention: one of a non-member is refused (INVALID_MENTION), and a final
      // message that does not commit tells nobody about the tail (seed 269).
      if (member) this.send(member, c.id, `final ${c.id.slice(0, 4)}`, undefined, 0, { mentions: false });
    }
    await this.settle();
  }

  private retryAll(u: SimUser): void {
    const list = u.retry.splice(0);
    for (const r of list) this.send(u, r.conversation, r.body, r.client_id, r.tries);
  }

  private async members(): Promise<Map<string, Set<string>>> {
    const { rows } = await this.base.query<{ conversation_id: string; user_id: string }>(
      'SELECT conversation_id, user_id FROM members WHERE tenant_id = $1',
      [TENANT],
    );
    const out = new Map<string, Set<string>>();
    for (const r of rows) {
      const set = out.get(r.conversation_id) ?? new Set();
      set.add(r.user_id);
      out.set(r.conversation_id, set);
    }
    return out;
  }

  private async openMemberships(): Promise<void> {
    const members = await this.members();
    for (const u of this.users)
      for (const c of this.conversations) if (members.get(c.id)?.has(u.name)) this.open(u, c.id);
  }

  // ---- operations ------------------------------------------------------------------------

  private randomOp(): void {
    const r = this.rng;
    const u = r.pick(this.users);
    const c = r.pick(this.conversations);
    const kind = r.weighted([6, 1.5, 0.5, 1, 0.7, 1.2, 0.6, 0.6]);
    const node = this.rng.pick(this.nodes.filter((n) => n.up));
    const viaHttp = (what: string, p: Promise<unknown>, then?: () => void) => {
      this.record(`op ${u.name} ${what} ${c.id.slice(0, 4)} via ${node.name}`);
      p.then(
        () => {
          this.count(`op_${what.split(' ')[0]}_ok`);
          then?.();
        },
        () => this.count(`op_${what.split(' ')[0]}_failed`),
      );
    };
    switch (kind) {
      case 0: {
        const body = `${u.name} says ${u.sent}`;
        this.record(`op ${u.name} send ${c.id.slice(0, 4)}`);
        this.send(u, c.id, body);
        return;
      }
      case 1: {
        const seq = this.lastApplied(u, c.id);
        this.record(`op ${u.name} read ${c.id.slice(0, 4)} ${seq}`);
        if (seq > 0) u.client.read(c.id, seq);
        return;
      }
      case 2:
        this.record(`op ${u.name} view ${c.id.slice(0, 4)}`);
        u.client.view(r.chance(0.3) ? null : c.id);
        return;
      case 3: {
        // Resubscribe: close and open again from the last applied seq.
        this.record(`op ${u.name} resubscribe ${c.id.slice(0, 4)}`);
        const sub = u.client.subscription(c.id);
        if (sub && sub.status !== 'closed') {
          sub.close();
          this.open(u, c.id);
        }
        return;
      }
      case 4:
        this.record(`op ${u.name} reconnect`);
        if (u.client.state !== 'disconnected') u.client.disconnect();
        u.client.connect();
        return;
      case 5: {
        if (c.kind === 'direct') {
          this.record(`op ${u.name} retry-sends`);
          this.retryAll(u);
          return;
        }
        const deps = this.deps(node);
        const actor = { type: 'user' as const, user_id: u.name };
        if (r.chance(0.45)) {
          viaHttp('leave', removeMember(deps, TENANT, actor, c.id, u.name));
        } else if (c.kind === 'channel') {
          viaHttp('join', join(deps, TENANT, u.name, c.id), () => this.open(u, c.id));
        } else {
          const other = r.pick(this.users.filter((x) => x !== u));
          viaHttp(`add ${other.name}`, addMembers(deps, TENANT, actor, c.id, [other.name]), () =>
            this.open(other, c.id),
          );
        }
        return;
      }
      case 6:
      case 7: {
        const mine = u.acked.filter((a) => a.conversation === c.id);
        if (mine.length === 0) {
          this.record(`op ${u.name} open ${c.id.slice(0, 4)}`);
          this.open(u, c.id);
          return;
        }
        const target = r.pick(mine);
        const deps = this.deps(node);
        if (kind === 6)
          viaHttp('edit', editMessage(deps, TENANT, u.name, c.id, target.message_id, `edited ${this.steps}`));
        else viaHttp('delete', deleteMessage(deps, TENANT, u.name, c.id, target.message_id));
        return;
      }
    }
  }

  // ---- setup and teardown ------------------------------------------------------------------

  async setup(): Promise<void> {
    const names = Array.from({ length: this.opts.users }, (_, i) => `u${i}`);
    await this.base.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [TENANT]);
    await this.base.query('INSERT INTO users (tenant_id, id) SELECT $1, u FROM unnest($2::text[]) AS u', [
      TENANT,
      names,
    ]);
    const deps: DomainDeps = {
      db: this.base,
      ...pgStore,
      limits: LIMITS,
      viewing: this.viewing,
    };
    const sys = { type: 'user' as const, user_id: names[0] };
    const convs: ConversationInfo[] = [];
    const d = await getDirect(deps, TENANT, names[0], names[1]);
    convs.push({ id: d.id, kind: 'direct' });
    const g = await createConversation(deps, TENANT, sys, {
      kind: 'group',
      title: 'g',
      members: names.filter((_, i) => i !== names.length - 1),
    });
    convs.push({ id: g.id, kind: 'group' });
    const ch = await createConversation(
      deps,
      TENANT,
      { type: 'user', user_id: names[1] },
      {
        kind: 'channel',
        title: 'c',
        members: [names[2 % names.length]],
      },
    );
    convs.push({ id: ch.id, kind: 'channel' });
    this.conversations = convs;
    // Everything set up so far is published before the clients arrive (no node runs yet).
    for (let i = 0; i < this.opts.nodes; i++) this.startNode(`n${i}`);
    for (const name of names) this.addUser(name);
    const members = await this.members();
    for (const u of this.users) {
      for (const c of convs) if (members.get(c.id)?.has(u.name)) u.client.open(c.id, { sinceSeq: 0 });
      u.client.connect();
    }
    await this.quiesce();
  }

  async teardown(): Promise<void> {
    for (const u of this.users) u.client.disconnect();
    this.clock.clear();
    for (const p of this.parked.splice(0)) p.kill(new Error('sim: run over'));
    for (const n of this.nodes) {
      for (const c of n.conns) c.crash();
      n.db.kill();
      await n.core.close();
      await n.bus.close();
    }
    await this.quiesce().catch(() => {});
  }
}

/** A frame in a trace line: type, conversation prefix, seq. */
function describe(item: unknown): string {
  if (typeof item !== 'string') return `close ${JSON.stringify(item)}`;
  try {
    const f = JSON.parse(item) as Record<string, unknown>;
    const conv = typeof f.conversation === 'string' ? f.conversation.slice(0, 4) : '';
    const extra =
      f.type === 'event'
        ? `${f.seq} ${(f.event as { type: string }).type}`
        : f.type === 'subscribed'
          ? `head ${f.head_seq} replayed ${f.replayed} complete ${f.complete}`
          : f.type === 'error' || f.type === 'unsubscribed'
            ? `${f.code} ${f.ref ?? ''}`
            : f.type === 'ack'
              ? `${f.client_id} ${f.seq}`
              : '';
    return `${f.type} ${conv} ${extra}`;
  } catch {
    return item.slice(0, 40);
  }
}

function eventKey(e: AppliedEvent['event']): string {
  return 'message' in e ? `${e.type}:${e.message.id}` : `${e.type}:${e.message_id}`;
}

/** Every table a run writes, emptied between seeds so each starts from the same store. */
const TABLES = [
  'outbox',
  'events',
  'messages',
  'members',
  'inbox_entries',
  'inbox_tombstones',
  'notice_entries',
  'notices',
  'conversations',
  'refresh_tokens',
  'tenant_grants',
  'api_keys',
  'users',
  'tenants',
];

export async function resetStore(db: Db): Promise<void> {
  await db.exec(
    `TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY CASCADE; ALTER SEQUENCE inbox_version RESTART`,
  );
}

/** Runs one seed on a migrated store (emptied first). Never throws: problems are failures. */
export async function runSeed(base: Db, seed: number, options: SimOptions = {}): Promise<SimResult> {
  const opts = {
    nodes: options.nodes ?? 3,
    users: options.users ?? 4,
    ops: options.ops ?? 30,
    maxSteps: options.maxSteps ?? 20_000,
    trace: options.trace,
  };
  await resetStore(base);
  const restoreUuids = seededUuids(new Rng(seed ^ 0x5eed));
  const world = new World(base, seed, opts);
  let ops = 0;
  try {
    await world.setup();
    ops = await world.run(opts.ops);
    await world.heal();
    await checkInvariants(world);
  } catch (err) {
    world.fail(`run aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await world.teardown().catch(() => {});
    restoreUuids();
  }
  return {
    seed,
    ok: world.failures.length === 0,
    failures: world.failures,
    steps: world.steps,
    ops,
    digest: world.digest(),
    stats: world.stats,
    faults: world.faults,
  };
}
