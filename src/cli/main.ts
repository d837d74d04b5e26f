// The `herald` command. Each group of subcommands lives in its own module;
// this file only assembles them and turns failures into one line on stderr
// (no stack traces unless HERALD_DEBUG is set) and an exit code:
// 0 ok, 1 failed, 2 bad usage or configuration.
import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './admin-commands.ts';
import { registerDoctor } from './doctor.ts';
import { describeFailure } from './failure.ts';
import { registerNodeCommands } from './node-commands.ts';
import { registerReconcile } from './reconcile.ts';
import { registerTail } from './tail.ts';
import { version } from './version.ts';

const program = new Command('herald')
  .description('Herald real-time messaging node')
  .version(version(), '-V, --version', 'print the version and exit')
  .showHelpAfterError()
  .exitOverride();

registerNodeCommands(program);
registerAdminCommands(program);
registerTail(program);
registerDoctor(program);
registerReconcile(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2); // commander printed it
  const { line, exitCode } = describeFailure(err);
  process.stderr.write(`herald: ${line}\n`);
  if (process.env.HERALD_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(exitCode);
});
