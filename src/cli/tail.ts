// `herald tail <conversation>`: follows a conversation's event log live, for
// debugging. Reads the store (not a socket), so it sees exactly what is
// committed, in seq order, whatever node wrote it; woken by the outbox
// NOTIFY, with a polling fallback.
import type { Command } from 'commander';
import type { ConversationEvent } from '../protocol/index.ts';
import { HeraldError } from '../protocol/index.ts';
import { PgConversationReader } from '../store/pg/conversations.ts';
import { withStore } from './context.ts';

function describe(seq: number, event: ConversationEvent): string {
  if (event.type === 'message.deleted') return `#${seq} deleted ${event.message_id}`;
  if (!('message' in event)) return `#${seq} ${event.type} ${event.message_id} by ${event.user_id}`;
  const m = event.message;
  const who = m.sender.type === 'user' ? m.sender.user_id : 'system';
  const verb = event.type === 'message.edited' ? 'edited' : m.kind;
  const data = m.data ? ` ${JSON.stringify(m.data)}` : '';
  return `#${seq} ${m.created_at} ${verb} ${who}: ${m.body}${data}`;
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('follow a conversation live: print its committed events in seq order (Ctrl-C to stop)')
    .argument('<conversation_id>')
    .requiredOption('--tenant <tenant_id>', 'the conversation’s tenant')
    .option('--since <seq>', 'start after this seq (default: the last 10 events)')
    .option('--json', 'one JSON event per line')
    .option('--once', 'print what is there and exit (do not follow)')
    .action(
      async (conversation: string, o: { tenant: string; since?: string; json?: boolean; once?: boolean }) => {
        await withStore(async ({ db }) => {
          const { rows } = await db.query<{ last_seq: number }>(
            'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2',
            [o.tenant, conversation],
          );
          if (!rows[0])
            throw new HeraldError(
              'CONVERSATION_NOT_FOUND',
              `No conversation ${conversation} in ${o.tenant}.`,
            );
          const log = new PgConversationReader(db);
          let after = o.since !== undefined ? Number(o.since) : Math.max(0, Number(rows[0].last_seq) - 10);
          if (!Number.isSafeInteger(after) || after < 0)
            throw new HeraldError('VALIDATION_FAILED', '--since must be a seq (an integer >= 0).');
          const printPage = async (): Promise<boolean> => {
            const page = await log.events(o.tenant, conversation, after, 200);
            for (const { seq, event } of page.events) {
              process.stdout.write(`${o.json ? JSON.stringify({ seq, event }) : describe(seq, event)}\n`);
              after = seq;
            }
            return page.has_more;
          };
          while (await printPage()) {}
          if (o.once) return;
          // Follow: a NOTIFY (any commit with outbox rows) or the 1 s poll triggers a read.
          let wake: () => void = () => {};
          const unlisten = await db.listen('herald_outbox', () => wake()).catch(() => null);
          const stop = new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          let stopped = false;
          void stop.then(() => {
            stopped = true;
            wake();
          });
          while (!stopped) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, 1000);
            });
            if (!stopped) while (await printPage()) {}
          }
          await unlisten?.();
        });
      },
    );
}
