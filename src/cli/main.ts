// The command line: argv -> public API calls -> exit status. The only place that prints or exits.
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { exitCodeFor, isOcimountError } from '../errors';
import { commands } from './commands';

export async function main(argv: string[]): Promise<void> {
  let parser: Argv = yargs(argv)
    .scriptName('ocimount')
    .usage('$0 <command> [options]\n\nPull an OCI image, unpack its layers and mount them as a writable root filesystem.')
    .strict()
    .demandCommand(1, 'name a command; see ocimount --help')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`ocimount: ${msg}\nRun "ocimount --help" for usage.\n`);
      process.exit(2);
    });
  for (const c of commands) parser = parser.command(c);
  try {
    await parser.parseAsync();
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Prints one clear line (plus a hint where there is one) and returns the exit status. */
export function reportError(err: unknown): number {
  if (isOcimountError(err)) {
    process.stderr.write(`ocimount: ${err.message}\n`);
    if (process.env.OCIMOUNT_DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
  } else if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    // Node's own errors already begin with their code ("ENOENT: no such file…").
    const prefix = code && !err.message.startsWith(`${code}:`) ? `${code}: ` : '';
    process.stderr.write(`ocimount: ${prefix}${err.message}\n`);
    if (process.env.OCIMOUNT_DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
  } else {
    process.stderr.write(`ocimount: ${String(err)}\n`);
  }
  return exitCodeFor(err);
}
