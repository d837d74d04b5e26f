// The import boundaries of src (docs/architecture.md): `npm run check:deps` (in .ci/run).
//
// Parser: swc (@swc/core, a devDependency). dependency-cruiser reads .ts files through the
// TypeScript compiler API or swc, and the root's TypeScript 7 has no JavaScript API (the
// cruiser accepts typescript <7 only). The TypeScript 5.9 of tools/openapi-gen is not
// reachable from the cruiser's own folder without rewiring module resolution, so swc it is:
// it parses every import, `import type` included — a type-only import is a dependency too
// (a cycle of types is still two modules that cannot be understood apart).
// test/architecture/boundaries.test.ts proves each rule fails on a violation (and that .ts
// files are really parsed: without a parser they would cruise as files with no imports).
// .dependency-cruiser-known-violations.json lists violations known and owned elsewhere
// (--ignore-known): any other one fails. Once a listed one is fixed, rewrite the list with
// `npx depcruise-baseline --config .dependency-cruiser.cjs src` (an empty list is `[]`).

/** Infrastructure the model and the wire protocol must not know about. */
const INFRA_PACKAGES = 'node_modules/(@types/)?(ws|pg|ioredis|fastify)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'model-imports-no-infrastructure',
      comment:
        'src/domain and src/protocol decide who and whether: they import no store, bus, transport or driver.',
      severity: 'error',
      from: { path: '^src/(domain|protocol)/' },
      to: { path: ['^src/(store|bus|gateway|api)/', INFRA_PACKAGES] },
    },
    {
      name: 'protocol-imports-nothing',
      comment: 'The wire protocol is shared by server and SDK: it imports nothing else of src.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'use-cases-know-no-transport',
      comment:
        'src/usecases is what HTTP and WebSocket both call: it imports neither of them, nor a store, bus or driver.',
      severity: 'error',
      from: { path: '^src/usecases/' },
      to: { path: ['^src/(store|bus|gateway|api)/', INFRA_PACKAGES] },
    },
    {
      name: 'model-below-use-cases',
      comment: 'The use cases call the domain, never the other way round.',
      severity: 'error',
      from: { path: '^src/(domain|protocol)/' },
      to: { path: '^src/usecases/' },
    },
    {
      name: 'no-cycles',
      comment: 'Modules that import each other cannot be read, tested or replaced apart.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'nothing-imports-the-host',
      comment:
        'src/host wires adapters, transports and the domain together; only the CLI starts it. What it wires must not import it back.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(host|cli)/' },
      to: { path: '^src/host/' },
    },
  ],
  options: {
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    // .ts imports carry their extension (allowImportingTsExtensions); node: builtins stay builtins.
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.d.ts'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
