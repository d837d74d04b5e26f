// Reading one environment variable as a typed, validated setting; the errors name the variable.
import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Record<string, string | undefined>;

export function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

export function url(env: Env, name: string, schemes: string[]): string | null {
  const raw = env[name];
  if (!raw) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL`);
  }
  if (!schemes.includes(parsed.protocol)) throw new ConfigError(`${name} must use ${schemes.join(' or ')}`);
  return raw;
}

/** A setting given inline (JSON / PEM) or as the path of a file holding it. */
export function inlineOrFile(env: Env, name: string, inline: (v: string) => boolean): string | null {
  const raw = env[name];
  if (!raw) return null;
  if (inline(raw.trim())) return raw.trim();
  try {
    return readFileSync(raw, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${name}: cannot read ${raw} (${(err as Error).message})`);
  }
}
