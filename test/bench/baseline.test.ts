// The bench's baseline and its measuring tools: the usual Socket.IO design
// (bench/baseline/, two processes on Redis) delivers across its processes
// and refuses non-members; the load generator counts what a client without
// resume misses while its socket is down, and that a Herald client resuming
// with since_seq misses nothing — through the same shim the scenarios use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadGen } from '../../bench/support/procs.ts';
import { type Deployment, prepareAll, type Running, type World } from '../../bench/support/systems.ts';
import { redisAvailable, waitFor } from '../support/redis.ts';

const world: World = { users: 4, rooms: [{ kind: 'channel', members: [0, 1, 2, 3] }] };
const users = [0, 1, 2, 3];

interface DropReport {
  clients: number;
  lostClients: number;
  medianLost: number;
  maxLost: number;
  dups: number;
  reconnected: number;
  behind: number;
}

/** Cuts every socket, sends `during` messages while they are down, lets them back, then sends one more. */
async function dropAndCount(lg: LoadGen, sys: Running, during: number): Promise<DropReport> {
  const room = sys.roomKey(0);
  await lg.request(
    { cmd: 'connect', mode: sys.mode, clients: sys.clients(users), resume: true },
    'connected',
  );
  let head = await sys.send(0, 'admin', 0);
  await lg.waitAll(room, head, 20_000);
  // Held down until released, so slow sends on a loaded machine still all fall inside the outage.
  await lg.request({ cmd: 'drop', outageMs: 0, hold: true }, 'dropped');
  for (let i = 1; i <= during; i++) head = await sys.send(0, 'admin', i);
  await lg.request({ cmd: 'release' }, 'released');
  const report = async () =>
    (await lg.request({ cmd: 'drop-report', heads: { [room]: head } }, 'drop-report')).report as DropReport;
  await waitFor(async () => (await report()).reconnected === users.length, 30_000, 'clients back');
  // Live again: the next message reaches everyone.
  head = await sys.send(0, 'admin', during + 1);
  await lg.waitAll(room, head, 20_000);
  const r = await report();
  await lg.request({ cmd: 'close' }, 'closed');
  return r;
}

describe.skipIf(process.env.HERALD_TEST_PG === '' || !redisAvailable())(
  'bench baseline and load generator',
  () => {
    let lg: LoadGen;
    let deployments: Deployment[];

    beforeAll(async () => {
      deployments = await prepareAll(['baseline', 'herald'], world, () => {});
      lg = await LoadGen.start();
    }, 120_000);

    afterAll(async () => {
      await lg?.exit();
      for (const d of deployments ?? []) await d.drop();
    }, 60_000);

    describe('the usual design', () => {
      let sys: Running;
      beforeAll(async () => {
        sys = await deployments[0].start();
      }, 60_000);
      afterAll(() => sys?.stop());

      it('delivers sends to either process to every member in seq order, and refuses non-members', async () => {
        expect(sys.pids).toHaveLength(2);
        await lg.request({ cmd: 'connect', mode: sys.mode, clients: sys.clients(users) }, 'connected');
        const seqs: number[] = [];
        // Sends alternate between the two processes; clients too: the Redis adapter carries half of each.
        for (let i = 0; i < 4; i++) {
          seqs.push(await sys.send(0, 'admin', i));
          await lg.waitAll(sys.roomKey(0), seqs[i], 20_000);
        }
        expect(seqs).toEqual([1, 2, 3, 4]);
        await expect(sys.send(0, 99, 9)).rejects.toThrow(/403/);
        await lg.request({ cmd: 'close' }, 'closed');
      }, 60_000);

      it('the load generator counts what a Socket.IO client misses while its socket is down', async () => {
        const r = await dropAndCount(lg, sys, 3);
        expect(r).toMatchObject({
          clients: 4,
          lostClients: 4,
          medianLost: 3,
          maxLost: 3,
          dups: 0,
          behind: 4,
        });
      }, 90_000);
    });

    it('a Herald client resuming with since_seq misses nothing', async () => {
      const sys = await deployments[1].start();
      try {
        const r = await dropAndCount(lg, sys, 3);
        expect(r).toMatchObject({ clients: 4, lostClients: 0, maxLost: 0, dups: 0, behind: 0 });
      } finally {
        await sys.stop();
      }
    }, 90_000);
  },
);
