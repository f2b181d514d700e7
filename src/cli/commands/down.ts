// ocimount down DIR: unmount DIR/rootfs; keep the upper dir unless --purge.
import type { CommandModule } from 'yargs';
import { down } from '../../index';

interface Args {
  dir: string;
  purge?: boolean;
  lazy?: boolean;
}

export const downCommand: CommandModule<object, Args> = {
  command: 'down <dir>',
  describe: 'Unmount DIR/rootfs made by "ocimount up"; changes stay in DIR/overlayfs/upper unless --purge',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'bundle directory given to ocimount up' })
      .option('purge', { type: 'boolean', describe: "also remove DIR's layers, overlayfs (upper and work), rootfs and config.json" })
      .option('lazy', { type: 'boolean', describe: 'detach a busy mount now; it goes away when no longer used' })
      .example('$0 down /opt/cont-1', '')
      .example('$0 down --purge /opt/cont-1', ''),
  handler: async (argv) => {
    const res = await down(argv.dir, { purge: argv.purge, lazy: argv.lazy });
    const what = [res.unmounted ? `unmounted ${res.paths.rootfs}` : 'was not mounted', res.purged ? 'purged' : `upper kept in ${res.paths.upper}`];
    process.stdout.write(`${res.paths.dir}: ${what.join('; ')}\n`);
  },
};
