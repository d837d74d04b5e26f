// The handshake pacer (src/gateway/handshake-pacer.ts): upgrades start in arrival order, a
// turn starts only what fits its time budget, and the budget follows the loop's turn length.
import { describe, expect, it } from 'vitest';
import { HandshakePacer } from '../../src/gateway/handshake-pacer.ts';

/** A pacer on a hand-driven clock and turn queue; each handshake costs `costMs` of the clock. */
function rig(costMs = 1) {
  let clock = 0;
  const turns: (() => void)[] = [];
  const pacer = new HandshakePacer(
    { targetTurnMs: 20, minBudgetMs: 1, maxBudgetMs: 8 },
    () => clock,
    (fn) => turns.push(fn),
  );
  const started: number[] = [];
  const admit = (n: number) => {
    for (let i = 0; i < n; i++) {
      const k = started.length + pacer.waiting;
      pacer.admit(() => {
        started.push(k);
        clock += costMs;
      });
    }
  };
  /** Runs the next turn after `gapMs` of other work; returns how many handshakes it started. */
  const turn = (gapMs = 0) => {
    clock += gapMs;
    const before = started.length;
    const fn = turns.shift();
    if (!fn) throw new Error('no turn scheduled');
    fn();
    return started.length - before;
  };
  return { pacer, admit, turn, started, turns };
}

describe('HandshakePacer', () => {
  it('starts nothing synchronously, and every handshake in arrival order over later turns', () => {
    const r = rig();
    r.admit(20);
    expect(r.started).toEqual([]);
    expect(r.pacer.waiting).toBe(20);
    while (r.turns.length > 0) r.turn();
    expect(r.started).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(r.pacer.waiting).toBe(0);
  });

  it('a turn starts what fits its budget, at least one handshake', () => {
    const r = rig(1);
    r.admit(30);
    expect(r.turn()).toBe(8); // the full budget: 8 ms of 1 ms handshakes
    const slow = rig(50);
    slow.admit(3);
    expect(slow.turn()).toBe(1); // one handshake even when it alone exceeds the budget
  });

  it('halves the budget while turns run long and grows it back when they are short', () => {
    const r = rig(1);
    r.admit(200);
    expect(r.turn()).toBe(8);
    expect(r.turn(100)).toBe(4); // a 108 ms turn: budget 8 → 4
    expect(r.turn(100)).toBe(2);
    expect(r.turn(100)).toBe(1);
    expect(r.turn(100)).toBe(1); // never below the minimum
    expect(r.turn(0)).toBe(2); // short turns: 1 → 1.5 → 2.25 …
    expect(r.turn(0)).toBe(3);
  });

  it('an idle pacer starts its next storm at the full budget', () => {
    const r = rig(1);
    r.admit(40);
    r.turn();
    while (r.turns.length > 0) r.turn(100);
    r.admit(20);
    expect(r.turn(10_000)).toBe(8);
  });

  it('keeps order across the compaction of a long queue', () => {
    const r = rig(0.001);
    r.admit(5000);
    let more = true;
    while (r.turns.length > 0) {
      r.turn(100);
      if (more && r.started.length >= 2000) {
        more = false;
        r.admit(10);
      }
    }
    expect(r.started).toEqual(Array.from({ length: r.started.length }, (_, i) => i));
    expect(r.started.length).toBe(5010);
  });
});
