import { readFileSync } from 'node:fs';

/** The package version (package.json is the one place it is written). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
