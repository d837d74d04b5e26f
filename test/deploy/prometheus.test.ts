// deploy/prometheus/: the scrape config and alert rules pass promtool
// (Debian's prometheus package), and every Herald metric they use exists.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { required, wanted } from './tools.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = join(root, 'deploy', 'prometheus');

function sources(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('Prometheus files', () => {
  it('every herald_ metric in the rules is one Herald exports', () => {
    const exported = new Set<string>();
    for (const f of sources(join(root, 'src')))
      for (const m of readFileSync(f, 'utf8').matchAll(/name: '(herald_[a-z_]+)'/g)) exported.add(m[1]);
    const rules = readFileSync(join(dir, 'herald-rules.yml'), 'utf8');
    expect(rules).toContain('herald_webhook_attempts_total');
    const used = [...new Set([...rules.matchAll(/\b(herald_[a-z_]+)\b/g)].map((m) => m[1]))];
    expect(used.length).toBeGreaterThan(5);
    const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    expect(used.filter((n) => !exported.has(n) && !exported.has(base(n)))).toEqual([]);
  });

  it('every metric Herald exports is described in docs/observability.md', () => {
    const exported = new Set<string>();
    // A metric's definition (name, then help); not a prepared statement's name.
    for (const f of sources(join(root, 'src')))
      for (const m of readFileSync(f, 'utf8').matchAll(/name: '(herald_[a-z_]+)',\n\s*help:/g))
        exported.add(m[1]);
    const doc = readFileSync(join(root, 'docs', 'observability.md'), 'utf8');
    expect(exported.size).toBeGreaterThan(20);
    expect([...exported].filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
  });

  it.runIf(wanted('promtool'))('promtool accepts the scrape config and the rules', () => {
    const promtool = required('promtool', 'prometheus');
    const config = execFileSync(promtool, ['check', 'config', join(dir, 'prometheus.yml')], {
      encoding: 'utf8',
    });
    expect(config).toContain('SUCCESS');
    const rules = execFileSync(promtool, ['check', 'rules', join(dir, 'herald-rules.yml')], {
      encoding: 'utf8',
    });
    expect(rules).toMatch(/SUCCESS: \d+ rules found/);
    // The alerts' own tests: each fires on what it is for, a rolling restart pages nothing.
    const tests = execFileSync(promtool, ['test', 'rules', join(dir, 'herald-rules.test.yml')], {
      encoding: 'utf8',
    });
    expect(tests).toContain('SUCCESS');
  });
});
