// docs/deploy.md, shown working: nginx (Debian's package, run by this test
// as its own process on a free loopback port) in front of two Herald nodes
// with no sticky sessions. WebSocket upgrades and SSE pass through; a rolling
// restart with drain (SIGTERM one node, start it again, then the other) loses
// nothing: every client resumes from its last seq and sees every message once.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HeraldClient } from '../../src/client/index.ts';
import { freePort, waitFor } from '../support/redis.ts';
import { clusterEnabled, type Deployment, deployment, http, sdkClient, stopTimed, tenant } from './nodes.ts';
import { required, wanted } from './tools.ts';

const root = join(import.meta.dirname, '..', '..');

interface Nginx {
  url: string;
  stop(): Promise<void>;
  log(): string;
}

/** deploy/nginx/herald.conf with the test's ports, in a minimal main config of its own. */
async function startNginx(nodePorts: [number, number]): Promise<Nginx> {
  const bin = required('nginx', 'nginx');
  const dir = mkdtempSync(join(tmpdir(), 'herald-nginx-'));
  chmodSync(dir, 0o755); // the worker (nobody) creates its temp dirs here
  const port = await freePort();
  const site = readFileSync(join(root, 'deploy', 'nginx', 'herald.conf'), 'utf8')
    .replace('listen 8080;', `listen 127.0.0.1:${port};`)
    .replace('127.0.0.1:8081', `127.0.0.1:${nodePorts[0]}`)
    .replace('127.0.0.1:8082', `127.0.0.1:${nodePorts[1]}`);
  writeFileSync(join(dir, 'herald.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
      `  include ${dir}/herald.conf;`,
      '}',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return out + readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return out;
    }
  };
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited (${proc.exitCode}): ${log()}`);
      try {
        return (await fetch(`${url}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    30_000,
    'nginx in front of the nodes',
  );
  return {
    url,
    log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM'); // nginx's fast stop; only the master this test started
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An EventSource-like reader: reconnects when the stream ends, resuming from Last-Event-ID. */
class SseFollower {
  seqs: number[] = [];
  lastEventId: string | null = null;
  connects = 0;
  private stopped = false;
  private abort = new AbortController();
  readonly done: Promise<void>;

  constructor(url: string, token: string, conversation: string) {
    this.done = (async () => {
      while (!this.stopped) {
        try {
          const headers: Record<string, string> = { authorization: `Bearer ${token}` };
          if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
          const res = await fetch(`${url}/v1/sse?conversations=${conversation}&since_seq=0`, {
            headers,
            signal: this.abort.signal,
          });
          if (res.ok && res.body) {
            this.connects++;
            await this.read(res.body);
          }
        } catch {
          // refused or cut: retry below, like an EventSource
        }
        if (!this.stopped) await new Promise((r) => setTimeout(r, 200));
      }
    })();
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of body) {
      buf += dec.decode(chunk as Uint8Array, { stream: true });
      let end = buf.indexOf('\n\n');
      while (end >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let id: string | null = null;
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) {
          const f = JSON.parse(data) as { type: string; seq?: number };
          if (f.type === 'event' && typeof f.seq === 'number') this.seqs.push(f.seq);
        }
        if (id) this.lastEventId = id;
        end = buf.indexOf('\n\n');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.done;
  }
}

describe.runIf(clusterEnabled && wanted('nginx'))('two nodes behind nginx (docs/deploy.md)', () => {
  const deployments: Deployment[] = [];
  const proxies: Nginx[] = [];
  const followers: SseFollower[] = [];
  afterAll(async () => {
    for (const f of followers) await f.stop();
    for (const d of deployments) for (const c of d.clients) c.disconnect();
    for (const p of proxies) await p.stop();
    for (const d of deployments) await d.cleanup();
  });

  it('WebSocket and SSE through nginx; a rolling restart with drain loses nothing', async () => {
    const d = await deployment({
      HERALD_DRAIN_GRACE_MS: '2000',
      // Every client reaches the nodes from nginx's address: one per-IP handshake bucket.
      HERALD_HANDSHAKES_PER_IP_PER_SEC: '1000',
      HERALD_HANDSHAKE_BURST_PER_IP: '1000',
    });
    deployments.push(d);
    const ports: [number, number] = [await freePort(), await freePort()];
    await d.start({ PORT: String(ports[0]) });
    await d.start({ PORT: String(ports[1]) });
    const lb = await startNginx(ports);
    proxies.push(lb);

    const t = await tenant(d, lb.url);
    const clients: Record<string, HeraldClient> = {};
    for (const u of ['alice', 'bob', 'carol']) clients[u] = await sdkClient(d, lb.url, t, u);
    const alice = await t.token('alice');
    const daveToken = await t.token('dave'); // minting a token creates the user
    const { conversation } = await http<{ conversation: { id: string } }>(
      lb.url,
      'POST',
      '/v1/conversations',
      alice,
      { kind: 'group', title: 'rolling', members: ['bob', 'carol', 'dave'] },
    );
    const seen: Record<string, number[]> = { bob: [], carol: [] };
    for (const u of ['bob', 'carol'] as const)
      clients[u]
        .open(conversation.id, { sinceSeq: 0 })
        .on('event', ({ seq }: { seq: number }) => seen[u].push(seq));
    const dave = new SseFollower(lb.url, daveToken, conversation.id);
    followers.push(dave);
    clients.alice.open(conversation.id, { sinceSeq: 0 });

    // Live through the proxy, unbuffered: an SSE event arrives while the stream stays open.
    const first = await clients.alice.send(conversation.id, 'before the restart').done;
    await waitFor(() => dave.seqs.includes(first.seq), 10_000, 'the first event over SSE');
    await waitFor(() => seen.bob.includes(first.seq), 10_000, 'the first event over WebSocket');

    // Alice keeps writing over her socket while the nodes restart one after the other.
    const acked: number[] = [first.seq];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const m = await clients.alice.send(conversation.id, `during the restart ${i}`).done;
        acked.push(m.seq);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    for (const i of [0, 1]) {
      const node = d.nodes[i];
      const written = acked.length;
      const { code } = await stopTimed(node, 'SIGTERM');
      expect(code, node.output()).toBe(0);
      d.nodes[i] = await d.start({ PORT: String(ports[i]) });
      // Writes went on through the other node while this one was away.
      await waitFor(() => acked.length > written + 3, 20_000, `writes after restarting node ${i + 1}`);
    }
    writing = false;
    await writer;

    const head = Math.max(...acked);
    const everyOnce = (seqs: number[]) => expect(seqs).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    for (const u of ['bob', 'carol'] as const) {
      await waitFor(() => seen[u].includes(head), 20_000, `${u} caught up to ${head}`);
      everyOnce(seen[u]);
    }
    await waitFor(() => dave.seqs.includes(head), 20_000, `dave (SSE) caught up to ${head}`);
    everyOnce(dave.seqs);
    expect(dave.connects).toBeGreaterThan(1); // the stream was drained and resumed
    expect(clients.alice.pending()).toEqual([]);
    expect(acked.length).toBeGreaterThan(8);
  }, 120_000);
});
