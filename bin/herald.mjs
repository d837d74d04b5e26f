#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a
// fresh clone and a running node.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
