// Scenarios 4 and 5: every socket cut at once (drop-recover, reconnect storm), who loses what.
import { type LoadGen, now, sleep } from '../support/procs.ts';
import { fmt, medianFields, pct, r1, ratio, table } from '../support/stats.ts';
import { type Running, SYSTEM_NAMES, type SystemKey, selectedSystems } from '../support/systems.ts';
import { channel, connect, failedNote, interleaved, type Options, range, warmUp } from './common.ts';

interface DropRun extends Record<string, number> {
  acceptedPerS: number;
  httpP99: number;
  lostClients: number;
  clients: number;
  medianLost: number;
  maxLost: number;
  dups: number;
  /** Events that arrived after a later seq (out of order), summed over clients. */
  late: number;
  caughtUpP50Ms: number;
  caughtUpMaxMs: number;
  sent: number;
  errors: number;
}

interface DropPlan {
  n: number;
  rate: number;
  ms: number;
  dropAtMs: number;
  outageMs: number;
}

/**
 * Open loop at `rate` (at most 64 sends in flight) for `ms`; `dropAtMs` in,
 * every socket is cut at once and nothing reconnects for `outageMs`; then
 * clients come back with full-jitter backoff (Herald: `subscribe` with
 * since_seq = the last seq each holds; the others: join again, live from now).
 * Ends when every client holds the final head; for systems without resume, also once every
 * client is back and nothing has changed for 3 s; after 90 s in any case.
 */
async function dropOnce(sys: Running, lg: LoadGen, p: DropPlan): Promise<DropRun> {
  await connect(lg, sys, range(p.n), true);
  await warmUp(sys, lg, 0, 'admin', 1);
  const room = sys.roomKey(0);
  let head = 0;
  let errors = 0;
  const http: number[] = [];
  const inflight = new Set<Promise<void>>();
  const t0 = now();
  let lastOk = t0;
  let dropped = false;
  const count = Math.round((p.rate * p.ms) / 1000);
  for (let k = 0; k < count; k++) {
    const wait = t0 + (k * 1000) / p.rate - now();
    if (wait > 0) await sleep(wait);
    if (!dropped && now() - t0 >= p.dropAtMs) {
      dropped = true;
      await lg.request({ cmd: 'drop', outageMs: p.outageMs }, 'dropped');
    }
    while (inflight.size >= 64) await Promise.race(inflight);
    const ts = now();
    const task: Promise<void> = sys.send(0, 'admin', k).then(
      (seq) => {
        lastOk = now();
        http.push(lastOk - ts);
        head = Math.max(head, seq);
      },
      () => {
        errors++;
      },
    );
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
  }
  await Promise.all(inflight);
  type Report = Omit<DropRun, 'acceptedPerS' | 'httpP99' | 'sent' | 'errors'> & {
    behind: number;
    totalLost: number;
    reconnected: number;
  };
  let report: Report;
  let stableSince = now();
  let prev = '';
  // Herald resumes: wait for every client to hold the head (a stall is not a loss until the
  // deadline). The others cannot get back what they missed: done once all are back and quiet.
  const until = now() + 90_000;
  for (;;) {
    report = (await lg.request({ cmd: 'drop-report', heads: { [room]: head } }, 'drop-report'))
      .report as Report;
    const sig = `${report.totalLost}/${report.reconnected}/${report.dups}`;
    if (sig !== prev) {
      prev = sig;
      stableSince = now();
    }
    if (report.behind === 0 || now() > until) break;
    if (sys.mode !== 'herald' && report.reconnected === report.clients && now() - stableSince > 3000) break;
    await sleep(250);
  }
  return {
    acceptedPerS: r1(http.length / ((lastOk - t0) / 1000)),
    httpP99: r1(pct(http, 99)),
    lostClients: report.lostClients,
    clients: report.clients,
    medianLost: report.medianLost,
    maxLost: report.maxLost,
    dups: report.dups,
    late: report.late,
    caughtUpP50Ms: Math.round(report.caughtUpP50Ms),
    caughtUpMaxMs: Math.round(report.caughtUpMaxMs),
    sent: http.length,
    errors,
  };
}

async function dropScenario(o: Options, title: string, label: string, p: DropPlan): Promise<string> {
  const keys = selectedSystems(['herald', 'herald2', 'heraldsplit', 'baseline', 'ws']);
  const res = await interleaved(keys, channel(p.n), o, label, (sys, lg) => dropOnce(sys, lg, p));
  const med = new Map<SystemKey, DropRun>();
  for (const [k, v] of res) if (v.runs.length) med.set(k, medianFields(v.runs));
  const base = med.get('baseline');
  const ms = (x: number) => (Number.isFinite(x) ? String(x) : 'never');
  const rows = keys.map((k) => {
    const m = med.get(k);
    const runs = res.get(k)?.runs ?? [];
    return m
      ? [
          SYSTEM_NAMES[k],
          m.acceptedPerS,
          ratio(m.acceptedPerS, base?.acceptedPerS),
          fmt(m.httpP99),
          `${m.lostClients} / ${m.clients}`,
          `${m.medianLost} / ${m.maxLost}`,
          `${m.dups} / ${m.late}`,
          `${ms(m.caughtUpP50Ms)} / ${ms(m.caughtUpMaxMs)}`,
          runs.map((r) => ms(r.caughtUpMaxMs)).join(', '),
        ]
      : [SYSTEM_NAMES[k], 'failed', '—', '—', '—', '—', '—', '—', '—'];
  });
  return [
    `## ${title}\n`,
    `${p.n} members of one channel, ${p.rate} msg/s offered over HTTP for ${p.ms / 1000} s (at most 64 in flight); ${p.dropAtMs / 1000} s in, every socket is cut and nothing reconnects for ${p.outageMs} ms, then clients return with full-jitter backoff (100 ms base, 1 s cap). Herald clients resume with \`since_seq\`; the usual design and \`ws\` have nothing to resume from and rejoin live. A client lost a message when it saw a seq jump or ended below the final head. "caught up": Herald — holds the head its \`subscribed\` announced; the others — back live. Medians of ${o.runs} run(s).\n`,
    table(
      [
        'system',
        'accepted msg/s',
        '÷ usual',
        'HTTP p99 ms',
        'clients that lost messages',
        'lost per client median / max',
        'duplicates / out of order',
        'caught up p50 / all (ms after drop)',
        'runs: all caught up ms',
      ],
      rows,
    ),
    failedNote(res),
  ].join('\n');
}

export function dropRecover(o: Options): Promise<string> {
  const p = o.quick
    ? { n: 200, rate: 100, ms: 3000, dropAtMs: 1000, outageMs: 200 }
    : { n: 1000, rate: 100, ms: 6000, dropAtMs: 2000, outageMs: 200 };
  return dropScenario(o, '4. Drop and recover', 'drop-recover', p);
}

export function reconnectStorm(o: Options): Promise<string> {
  const p = o.quick
    ? { n: 500, rate: 2, ms: 5000, dropAtMs: 2000, outageMs: 200 }
    : { n: 10000, rate: 2, ms: 12_000, dropAtMs: 4000, outageMs: 200 };
  return dropScenario(o, `5. Reconnect storm: ${p.n.toLocaleString('en')} clients`, 'reconnect-storm', p);
}

// ---- 6. idle memory ----------------------------------------------------------------------------
