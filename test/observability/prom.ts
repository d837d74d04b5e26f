// Reading Prometheus text exposition in tests: the value of one series (or the sum of the
// series matching some labels), and waiting for a value.

export type Labels = Record<string, string>;

interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every series `name` whose labels include `labels` (0 when there is none). */
export function value(text: string, name: string, labels: Labels = {}): number {
  let sum = 0;
  for (const s of parse(text)) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Whether any series `name` (with `labels`) is present at all. */
export function has(text: string, name: string, labels: Labels = {}): boolean {
  return parse(text).some(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** Differences between two scrapes, per series asked for. */
export function delta(before: string, after: string, name: string, labels: Labels = {}): number {
  return value(after, name, labels) - value(before, name, labels);
}
