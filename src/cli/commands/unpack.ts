// ocimount unpack LAYOUT[:TAG|@DIGEST] LAYERS_DIR
import type { CommandModule } from 'yargs';
import { unpack } from '../../index';
import type { LayerProgress, UnpackWarning } from '../../index';

interface Args {
  layout: string;
  'layers-dir': string;
  format?: 'overlay' | 'oci';
  userxattr?: boolean;
  rootless?: boolean;
  platform?: string;
  strict?: boolean;
  quiet?: boolean;
}

function mb(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

export const unpackCommand: CommandModule<object, Args> = {
  command: 'unpack <layout> <layers-dir>',
  describe: 'Extract each layer of an image in an OCI layout into LAYERS_DIR/N (0 = base), with whiteouts, owners, devices and xattrs',
  builder: (y) =>
    y
      .positional('layout', { type: 'string', demandOption: true, describe: 'OCI layout directory, optionally :TAG or @DIGEST' })
      .positional('layers-dir', { type: 'string', demandOption: true, describe: 'where LAYERS_DIR/0, 1, ... and layers.json go' })
      .option('format', { choices: ['overlay', 'oci'] as const, describe: 'whiteouts as overlayfs expects them, or as in the tar (default: overlay as root, oci otherwise)' })
      .option('userxattr', { type: 'boolean', describe: 'overlay format: mark opaque dirs with user.overlay.opaque (for mounts with -o userxattr)' })
      .option('rootless', { type: 'boolean', describe: 'record owners and devices in user.containers.override_stat instead of chown/mknod (default: when not root)' })
      .option('platform', { type: 'string', describe: 'image to pick from a multi-platform index, e.g. linux/arm64/v8 (default: this host)' })
      .option('strict', { type: 'boolean', describe: 'fail on entries that try to escape their layer instead of skipping them' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress lines' })
      .example('$0 unpack /tmp/mini-web:v1 /opt/cont-1/layers', ''),
  handler: async (argv) => {
    const tty = process.stderr.isTTY && !argv.quiet;
    let lastDraw = 0;
    const onProgress = (p: LayerProgress): void => {
      if (argv.quiet) return;
      const label = `layer ${p.layer} ${p.digest.slice(0, 19)}`;
      if (p.phase === 'progress') {
        const now = Date.now();
        if (tty && now - lastDraw > 100) {
          lastDraw = now;
          process.stderr.write(`\r${label}  ${mb(p.bytes)} / ${mb(p.total)}\x1b[K`);
        }
        return;
      }
      if (p.phase === 'start') return;
      if (tty) process.stderr.write('\r\x1b[K');
      process.stdout.write(`${label}  ${mb(p.total).padStart(9)}  ${p.phase === 'done' ? 'unpacked' : 'already unpacked'}\n`);
    };
    const onWarning = (w: UnpackWarning): void => {
      if (tty) process.stderr.write('\r\x1b[K');
      process.stderr.write(`ocimount: warning [${w.code}]: ${w.message}\n`);
    };
    const res = await unpack(argv.layout, argv['layers-dir'], {
      format: argv.format,
      userxattr: argv.userxattr,
      rootless: argv.rootless,
      platform: argv.platform,
      strict: argv.strict,
      onProgress,
      onWarning,
    });
    if (!argv.quiet) {
      const r = res.record;
      process.stdout.write(`${r.layers.length} layers in ${argv['layers-dir']} (format ${r.format}${r.userxattr ? ', userxattr' : ''}${r.rootless ? ', rootless' : ''})\n`);
    }
  },
};
