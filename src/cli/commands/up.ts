// ocimount up IMAGE DIR: pull, unpack, mount and write the runtime bundle in one step.
import type { CommandModule } from 'yargs';
import { up } from '../../index';
import { readCredentials, registryOptions, type RegistryArgs } from '../registry-options';
import type { LayerProgress, UnpackWarning } from '../../index';

interface Args extends RegistryArgs {
  image: string;
  dir: string;
  kernel?: boolean;
  store?: string;
  format?: 'overlay' | 'oci';
  userxattr?: boolean;
  'allow-other'?: boolean;
  quiet?: boolean;
}

export const upCommand: CommandModule<object, Args> = {
  command: 'up <image> <dir>',
  describe: 'Pull IMAGE into the shared store, unpack it into DIR/layers, mount DIR/rootfs (upper in DIR/overlayfs) and write DIR/config.json',
  builder: (y) =>
    registryOptions(y)
      .positional('image', { type: 'string', demandOption: true, describe: 'image reference (registry/repo:tag or @digest), or oci:LAYOUT[:TAG] for a local layout' })
      .positional('dir', { type: 'string', demandOption: true, describe: 'bundle directory (created if missing)' })
      .option('kernel', { type: 'boolean', describe: "mount with the kernel's overlayfs (needs root) instead of FUSE" })
      .option('store', { type: 'string', describe: 'shared content store, an OCI layout (default: /var/lib/ocimount/store as root, $XDG_DATA_HOME/ocimount/store otherwise)' })
      .option('format', { choices: ['overlay', 'oci'] as const, describe: 'whiteout format for the unpacked layers (default: overlay as root, oci otherwise; --kernel needs overlay)' })
      .option('userxattr', { type: 'boolean', describe: 'opaque markers and kernel mount in the user.overlay.* namespace (user namespaces)' })
      .option('allow-other', { type: 'boolean', describe: 'FUSE: let other users see the mount' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'print only the result' })
      .example('$0 up 127.0.0.1:5000/mini-web:v1 /opt/cont-1', '')
      .example('$0 up --kernel 127.0.0.1:5000/mini-web:v1 /opt/cont-1', ''),
  handler: async (argv) => {
    const auth = readCredentials(argv);
    const say = (msg: string): void => {
      if (!argv.quiet) process.stderr.write(`${msg}\n`);
    };
    const res = await up(argv.image, argv.dir, {
      kernel: argv.kernel,
      store: argv.store,
      platform: argv.platform,
      insecure: argv.insecure,
      auth,
      format: argv.format,
      userxattr: argv.userxattr,
      allowOther: argv['allow-other'],
      onStep: say,
      onProgress: (p: LayerProgress) => {
        if (p.phase === 'done' || p.phase === 'skipped') say(`  layer ${p.layer} ${p.digest.slice(0, 19)} ${p.phase === 'done' ? 'unpacked' : 'already unpacked'}`);
      },
      onWarning: (w: UnpackWarning) => process.stderr.write(`ocimount: warning [${w.code}]: ${w.message}\n`),
    });
    process.stdout.write(
      `${res.paths.dir} is up: ${res.layers} layers (${res.backend}) mounted at ${res.paths.rootfs}, upper ${res.paths.upper}, bundle ${res.paths.config}\n`,
    );
  },
};
