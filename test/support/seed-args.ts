// The seed flags the simulation and the SDK chaos CLIs share, on node:util's parseArgs:
// `--seeds N` (how many, from 1), `--from N`, `--seed N` (that one only), `--trace`, `--help`.
// Each CLI adds its own options beside them.
import { type ParseArgsConfig, parseArgs } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export const SEED_OPTIONS = {
  seeds: { type: 'string' },
  from: { type: 'string' },
  seed: { type: 'string' },
  trace: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

/** A flag's value as a non-negative integer (undefined when absent). */
export function intFlag(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`);
  return v;
}

/** The seeds to run: `--seed N` alone, else `--seeds` of them from `--from` (1). */
export function seedRange(
  values: Record<string, unknown>,
  defaultCount: number,
): { from: number; count: number } {
  const one = intFlag(values, 'seed');
  if (one !== undefined) return { from: one, count: 1 };
  return { from: intFlag(values, 'from') ?? 1, count: intFlag(values, 'seeds') ?? defaultCount };
}

/** parseArgs with the seed flags and `extra`; an unknown flag is an error that names it. */
export function parseSeedArgs<E extends Options>(argv: string[], extra: E) {
  return parseArgs({
    args: argv,
    options: { ...SEED_OPTIONS, ...extra },
    strict: true,
    allowPositionals: false,
  });
}
