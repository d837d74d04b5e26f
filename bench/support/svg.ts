// Minimal hand-written SVG charts for docs/bench/: grouped bars (latency
// percentiles per size, one group per scenario point, one bar per system:
// p50 solid, p99 as a lighter bar behind it) and lines (sends/s against
// concurrency, one line per system). No dependencies; plain text out.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c'];
const W = 720;
const H = 360;
const M = { top: 40, right: 20, bottom: 70, left: 70 };

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/`/g, '');

/** A round axis maximum ≥ x (1, 2 or 5 × 10^k). */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const PH = H - M.top - M.bottom;
const PW = W - M.left - M.right;

/** A y axis: where a value goes, and which values get a grid line. */
interface Scale {
  y(v: number): number;
  ticks: number[];
}

function linear(max: number): Scale {
  const yMax = niceMax(max);
  return {
    y: (v) => M.top + PH - (PH * Math.min(v, yMax)) / yMax,
    ticks: [0, 1, 2, 3, 4, 5].map((k) => (yMax * k) / 5),
  };
}

/** Decades from 1 up to a power of ten ≥ max: latencies span 1 ms to seconds. */
function log10(max: number): Scale {
  const top = Math.max(1, Math.ceil(Math.log10(Math.max(max, 10))));
  return {
    y: (v) => M.top + PH - (PH * Math.min(top, Math.max(0, Math.log10(Math.max(v, 1))))) / top,
    ticks: Array.from({ length: top + 1 }, (_, k) => 10 ** k),
  };
}

function frame(title: string, yLabel: string, scale: Scale, body: string[], legend: string[]): string {
  const ph = PH;
  const pw = PW;
  const ticks: string[] = [];
  for (const v of scale.ticks) {
    const y = scale.y(v);
    ticks.push(
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`,
      `<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${Number(v.toPrecision(3))}</text>`,
    );
  }
  const leg = legend.map(
    (name, k) =>
      `<rect x="${M.left + k * 150}" y="${H - 22}" width="12" height="12" fill="${COLORS[k % COLORS.length]}"/>` +
      `<text x="${M.left + k * 150 + 16}" y="${H - 12}">${esc(name)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    // The chart's accessible name (screen readers, image previews).
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    ...ticks,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#111"/>`,
    `<line x1="${M.left}" x2="${M.left + pw}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#111"/>`,
    ...body,
    ...leg,
    '</svg>',
  ].join('\n');
}

export interface BarGroup {
  label: string;
  /** Per series (same order as `series`): [p50, p99]; undefined = not measured. */
  values: ([number, number] | undefined)[];
}

/** Grouped bars on a log scale: one group per label, one bar per series (p50 solid, p99 translucent behind). */
export function barChart(title: string, yLabel: string, series: string[], groups: BarGroup[]): string {
  const ph = PH;
  const pw = PW;
  const scale = log10(Math.max(...groups.flatMap((g) => g.values.flatMap((v) => (v ? [v[0], v[1]] : [])))));
  const gw = pw / Math.max(1, groups.length);
  const bw = (gw * 0.8) / Math.max(1, series.length);
  const y = scale.y;
  const body: string[] = [];
  groups.forEach((g, gi) => {
    const x0 = M.left + gi * gw + gw * 0.1;
    g.values.forEach((v, si) => {
      if (!v) return;
      const x = x0 + si * bw;
      const c = COLORS[si % COLORS.length];
      body.push(
        `<rect x="${x}" y="${y(v[1])}" width="${bw - 2}" height="${M.top + ph - y(v[1])}" fill="${c}" fill-opacity="0.3"><title>p99 ${v[1]}</title></rect>`,
        `<rect x="${x}" y="${y(v[0])}" width="${bw - 2}" height="${M.top + ph - y(v[0])}" fill="${c}"><title>p50 ${v[0]}</title></rect>`,
      );
    });
    body.push(
      `<text x="${x0 + gw * 0.4}" y="${M.top + ph + 16}" text-anchor="middle">${esc(g.label)}</text>`,
    );
  });
  body.push(
    `<text x="${W - M.right}" y="${M.top - 8}" text-anchor="end" fill="#555">solid: p50 · light: p99</text>`,
  );
  return frame(title, `${yLabel} (log scale)`, scale, body, series);
}

export interface Line {
  name: string;
  points: [number, number][];
}

/** Lines over a log2 x axis (concurrency 1, 2, 4 … 64). */
export function lineChart(title: string, xLabel: string, yLabel: string, lines: Line[]): string {
  const ph = PH;
  const pw = PW;
  const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])))].sort((a, b) => a - b);
  const scale = linear(Math.max(...lines.flatMap((l) => l.points.map((p) => p[1]))));
  const lx = (x: number) => Math.log2(Math.max(1, x));
  const [lo, hi] = [lx(xs[0] ?? 1), lx(xs[xs.length - 1] ?? 2)];
  const px = (x: number) => M.left + (hi === lo ? pw / 2 : ((lx(x) - lo) / (hi - lo)) * pw);
  const py = scale.y;
  const body: string[] = xs.map(
    (x) => `<text x="${px(x)}" y="${M.top + ph + 16}" text-anchor="middle">${x}</text>`,
  );
  body.push(`<text x="${M.left + pw / 2}" y="${M.top + ph + 34}" text-anchor="middle">${esc(xLabel)}</text>`);
  lines.forEach((l, k) => {
    const c = COLORS[k % COLORS.length];
    const pts = [...l.points].sort((a, b) => a[0] - b[0]);
    body.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p[0])},${py(p[1])}`).join(' ')}"/>`,
      ...pts.map(
        (p) => `<circle cx="${px(p[0])}" cy="${py(p[1])}" r="3" fill="${c}"><title>${p[1]}</title></circle>`,
      ),
    );
  });
  return frame(
    title,
    yLabel,
    scale,
    body,
    lines.map((l) => l.name),
  );
}

export function writeSvg(path: string, svg: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${svg}\n`);
}
