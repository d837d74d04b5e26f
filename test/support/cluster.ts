// Real `herald serve` processes for multi-node tests: each node is a child
// process on its own port, sharing one PostgreSQL database and one Redis
// key prefix. Tests kill them with real signals.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './redis.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface NodeProcess {
  port: number;
  url: string;
  wsUrl: string;
  proc: ChildProcess;
  /** stdout+stderr so far (for failure messages). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `herald serve` (on env.PORT if given); `timeoutMs` bounds the wait for /healthz (an embedded store's first start is slow). */
export async function startNode(env: Record<string, string>, timeoutMs = 60_000): Promise<NodeProcess> {
  // env.PORT restarts a node where a load balancer expects it; else any free port.
  const port = env.PORT ? Number(env.PORT) : await freePort();
  let out = '';
  // HERALD_NODE_CPU_PROF=<dir> writes a V8 CPU profile of each node to <dir> when it exits
  // (the bench's profiles; NODE_OPTIONS refuses --cpu-prof, so it goes on the command line).
  const prof = process.env.HERALD_NODE_CPU_PROF;
  const flags = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  // HERALD_NODE_ROOT=<checkout> runs another checkout's herald (a bench's "before" side).
  const from = process.env.HERALD_NODE_ROOT ?? root;
  const proc = spawn(process.execPath, [...flags, join(from, 'bin', 'herald.mjs'), 'serve'], {
    cwd: from,
    env: { ...process.env, LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`node exited (${proc.exitCode}): ${out}`);
        try {
          return (await fetch(`${url}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      timeoutMs,
      'node /healthz',
    );
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    proc,
    output: () => out,
    kill(signal = 'SIGTERM') {
      return new Promise((resolve) => {
        // A process that died by a signal has signalCode set and exitCode null.
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      });
    },
  };
}
