// ocimount umount MOUNTPOINT [--lazy]
import type { CommandModule } from 'yargs';
import { unmount } from '../../index';

interface Args {
  mountpoint: string;
  lazy?: boolean;
}

export const umountCommand: CommandModule<object, Args> = {
  command: 'umount <mountpoint>',
  aliases: ['unmount'],
  describe: 'Unmount an ocimount mount and stop its server',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true })
      .option('lazy', { alias: 'l', type: 'boolean', describe: 'detach now even if busy; the mount goes away when no longer used' }),
  handler: async (argv) => {
    await unmount(argv.mountpoint, { lazy: argv.lazy });
  },
};
