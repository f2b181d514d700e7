// ocimount pull IMAGE DIR: an image from a registry into an OCI image layout.
import type { CommandModule } from 'yargs';
import { pull } from '../../index';
import { progressView } from '../progress';
import { readCredentials, registryOptions, type RegistryArgs } from '../registry-options';

interface Args extends RegistryArgs {
  image: string;
  dir: string;
  'all-platforms'?: boolean;
  quiet?: boolean;
}

export const pullCommand: CommandModule<object, Args> = {
  command: 'pull <image> <dir>',
  describe: 'Pull IMAGE from its registry into DIR as an OCI image layout (every blob verified; DIR is created, or must already be a layout)',
  builder: (y) =>
    registryOptions(y)
      .positional('image', { type: 'string', demandOption: true, describe: 'image reference: name[:tag], host:port/ns/name:tag, name@sha256:…' })
      .positional('dir', { type: 'string', demandOption: true, describe: 'OCI layout directory (new, empty, or an existing layout)' })
      .option('all-platforms', { type: 'boolean', describe: 'keep the whole index and every image in it' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress; print only the result' })
      .conflicts('platform', 'all-platforms')
      .example('$0 pull 127.0.0.1:5000/mini-web:v1 /tmp/mini-web', 'then: skopeo inspect oci:/tmp/mini-web:v1')
      .example('$0 pull --platform linux/arm64 alpine /tmp/alpine', ''),
  handler: async (argv) => {
    const credentials = readCredentials(argv);
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const view = progressView(process.stderr, { quiet: argv.quiet });
    try {
      const res = await pull(argv.image, argv.dir, {
        platform: argv.platform,
        allPlatforms: argv['all-platforms'],
        credentials,
        insecure: argv.insecure,
        signal: ac.signal,
        onProgress: view.onProgress,
      });
      view.finish();
      process.stdout.write(`${res.layoutRef} ${res.digest}\n`);
      // A Docker manifest is stored in OCI form: say so, with the digest the registry knows it by.
      if (res.sourceDigest !== res.digest && !argv.quiet) process.stderr.write(`stored in OCI form; the registry's digest is ${res.sourceDigest}\n`);
    } catch (err) {
      view.finish();
      if (ac.signal.aborted) {
        process.stderr.write('ocimount: pull interrupted; temporary files removed\n');
        process.exit(130);
      }
      throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
