// ocimount mount LAYERS_DIR MOUNTPOINT --upper DIR --work DIR
// ocimount mount --lowerdir top:...:base MOUNTPOINT --upper DIR --work DIR
import type { CommandModule } from 'yargs';
import { OcimountError, buildMountSpec, mountFuse, mountKernel, runServer } from '../../index';

interface Args {
  first: string;
  second?: string;
  lowerdir?: string;
  upper?: string;
  work?: string;
  'read-only'?: boolean;
  'allow-other'?: boolean;
  trace?: string;
  foreground?: boolean;
  kernel?: boolean;
  userxattr?: boolean;
}

export const mountCommand: CommandModule<object, Args> = {
  command: 'mount <first> [second]',
  describe: 'Mount layers as a writable overlay served by ocimount (FUSE, no privileges needed)',
  builder: (y) =>
    y
      .usage('$0 mount LAYERS_DIR MOUNTPOINT --upper DIR --work DIR\n$0 mount --lowerdir TOP:...:BASE MOUNTPOINT --upper DIR --work DIR')
      .positional('first', { type: 'string', demandOption: true, describe: 'LAYERS_DIR (or MOUNTPOINT with --lowerdir)' })
      .positional('second', { type: 'string', describe: 'MOUNTPOINT' })
      .option('lowerdir', { type: 'string', describe: 'layer directories, top first, ":" separated (as for mount -t overlay)' })
      .option('upper', { type: 'string', describe: 'writable directory receiving every change' })
      .option('work', { type: 'string', describe: 'scratch directory on the same filesystem as --upper' })
      .option('read-only', { type: 'boolean', describe: 'no upper: every write fails with EROFS' })
      .option('allow-other', { type: 'boolean', describe: 'let other users (and root) use the mount; permissions are then enforced' })
      .option('trace', { type: 'string', describe: 'log every operation, to FILE or (no value) to the server log / stderr' })
      .option('foreground', { alias: 'f', type: 'boolean', describe: 'serve from this process until Ctrl-C instead of in the background' })
      .option('kernel', { type: 'boolean', describe: "mount with the kernel's overlayfs instead of FUSE (needs root; layers in the overlay format)" })
      .option('userxattr', { type: 'boolean', describe: 'kernel: use user.overlay.* xattrs (mounts inside a user namespace)' })
      .example('$0 mount /opt/cont-1/layers /opt/cont-1/rootfs --upper /opt/cont-1/overlayfs/upper --work /opt/cont-1/overlayfs/work', ''),
  handler: async (argv) => {
    const withLower = argv.lowerdir !== undefined;
    const target = withLower ? argv.first : argv.second;
    if (!target) throw new OcimountError('USAGE', 'name the MOUNTPOINT: ocimount mount LAYERS_DIR MOUNTPOINT --upper DIR --work DIR');
    if (withLower && argv.second) throw new OcimountError('USAGE', 'with --lowerdir, give only MOUNTPOINT');
    const spec = buildMountSpec({
      layersDir: withLower ? undefined : argv.first,
      lowerdir: argv.lowerdir,
      target,
      upper: argv.upper,
      work: argv.work,
      readOnly: argv['read-only'],
      allowOther: argv['allow-other'],
      trace: argv.trace,
      ...(argv.kernel ? { backend: 'kernel' as const } : {}),
    });
    if (argv.kernel) {
      if (argv.foreground || argv.trace !== undefined || argv['allow-other']) throw new OcimountError('USAGE', '--foreground, --trace and --allow-other are FUSE options; drop them or --kernel');
      const res = mountKernel({ ...spec, ...(argv.userxattr ? { userxattr: true } : {}) });
      process.stdout.write(`mounted ${spec.lowerdirs.length} layer(s) at ${res.spec.target} (kernel overlayfs${res.spec.userxattr ? ', userxattr' : ''})\n`);
      return;
    }
    if (argv.foreground) {
      await runServer(spec, () => process.stderr.write(`ocimount: serving ${spec.target} (pid ${process.pid}); Ctrl-C or "ocimount umount ${spec.target}" ends it\n`));
      process.stderr.write(`ocimount: ${spec.target} unmounted\n`);
      // fuse-native keeps a handle open after unmount; nothing is left to do.
      process.exit(0);
    }
    const res = await mountFuse(spec);
    process.stdout.write(`mounted ${spec.lowerdirs.length} layer(s) at ${res.target} (fuse, server pid ${res.pid}, log ${res.log})\n`);
  },
};
