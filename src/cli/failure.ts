// What a failed command prints: one line that names the setting to change.
import { ConfigError } from '../config.ts';
import { HeraldError } from '../protocol/index.ts';
import { DatabaseMissingError } from '../store/create-database.ts';

interface NodeError extends Error {
  code?: string;
  port?: number;
  address?: string;
}

export function describeFailure(err: unknown): { line: string; exitCode: number } {
  if (err instanceof ConfigError) return { line: err.message, exitCode: 2 };
  if (err instanceof DatabaseMissingError) return { line: err.message, exitCode: 1 };
  if (err instanceof HeraldError) return { line: `${err.code}: ${err.message}`, exitCode: 1 };
  const e = err as NodeError;
  if (e?.code === 'EADDRINUSE')
    return {
      line: `port ${e.port ?? ''} is already in use: set PORT to a free port (or stop the other process)`,
      exitCode: 1,
    };
  if (e?.code === 'EACCES' && e.port !== undefined)
    return { line: `not allowed to listen on port ${e.port}: set PORT to a port above 1023`, exitCode: 1 };
  if (e?.code === 'ECONNREFUSED')
    return {
      line: `cannot connect to ${e.address ?? 'a service'}${e.port ? `:${e.port}` : ''}: is it running? (check DATABASE_URL / REDIS_URL)`,
      exitCode: 1,
    };
  const message = err instanceof Error ? err.message : String(err);
  return { line: `${message} (set HERALD_DEBUG=1 to see the stack)`, exitCode: 1 };
}
