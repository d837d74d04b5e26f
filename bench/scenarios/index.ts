// The side-by-side scenarios of `npm run bench` (issue 10): each one
// provisions the same World on every system, then runs them interleaved —
// run 1 of Herald 1 node, Herald 2 nodes, the usual design, `ws`; run 2 of
// each; … — through the shim in support/systems.ts and one load generator
// (support/loadgen.ts). Every table reports each system ÷ the usual design
// and counts what each one loses. Figures go to stdout as Markdown; progress
// and per-run details to stderr; charts to SVG files.
export { dropProvisioned, type Options } from './common.ts';
export { dropRecover, reconnectStorm } from './drop.ts';
export { durable } from './durable.ts';
export { fanoutLatency } from './fanout.ts';
export { idleMemory } from './idle-memory.ts';
export { saturation } from './saturation.ts';
