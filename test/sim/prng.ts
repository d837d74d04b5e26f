// Seeded randomness for the simulation. One seed decides everything a run does: the
// operations, every fault, every delivery order — and the ids the server generates, because
// conversation ids pick the outbox partition (hashtext(topic)), and with it the relay's
// publish order. Nothing in a run may read Math.random or crypto's real randomness.
import { createRequire, syncBuiltinESMExports } from 'node:module';

/** sfc32, seeded through splitmix32: small, fast, and good enough for scheduling. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)];
  }

  /** Index chosen with probability proportional to its weight (weights > 0). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i];
      if (x < 0) return i;
    }
    return weights.length - 1;
  }
}

const require = createRequire(import.meta.url);
const cryptoCjs = require('node:crypto') as { randomUUID: () => string };
const realRandomUUID = cryptoCjs.randomUUID;

/**
 * Makes `randomUUID` (the server's id source, imported as `import { randomUUID } from
 * 'node:crypto'`) draw from `rng` until the returned function is called. ESM imports of a
 * builtin are live bindings: syncBuiltinESMExports() points them at the replacement.
 */
export function seededUuids(rng: Rng): () => void {
  const hex = () => rng.int(0x10000).toString(16).padStart(4, '0');
  cryptoCjs.randomUUID = () =>
    `${hex()}${hex()}-${hex()}-4${hex().slice(1)}-${(8 + rng.int(4)).toString(16)}${hex().slice(1)}-${hex()}${hex()}${hex()}`;
  syncBuiltinESMExports();
  return () => {
    cryptoCjs.randomUUID = realRandomUUID;
    syncBuiltinESMExports();
  };
}
