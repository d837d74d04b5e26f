// Debian tools the deployment tests drive (nginx, promtool). Missing outside
// CI: the test is skipped; missing in CI: it fails, naming the package.
import { execFileSync } from 'node:child_process';

export function which(name: string): string | null {
  try {
    return execFileSync('which', [name], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Run the test when the binary is here, or in CI (where its absence is a failure). */
export function wanted(name: string): boolean {
  return which(name) !== null || Boolean(process.env.CI);
}

export function required(name: string, pkg: string): string {
  const path = which(name);
  if (!path) throw new Error(`${name} is missing: apt-get install -y ${pkg} (.ci/run does it)`);
  return path;
}
