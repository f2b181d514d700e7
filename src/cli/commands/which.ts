// ocimount which LAYERS_DIR PATH [--upper DIR]
import type { CommandModule } from 'yargs';
import { formatWhich, lowerdirsOf, which } from '../../index';
import * as path from 'node:path';

interface Args {
  'layers-dir': string;
  path: string;
  upper?: string;
  json?: boolean;
}

export const whichCommand: CommandModule<object, Args> = {
  command: 'which <layers-dir> <path>',
  describe: 'Show how PATH resolves through the layers (which layer answers, what it hides, whiteouts, opaque dirs) without mounting',
  builder: (y) =>
    y
      .positional('layers-dir', { type: 'string', demandOption: true })
      .positional('path', { type: 'string', demandOption: true, describe: 'path inside the image, e.g. /app/version.txt' })
      .option('upper', { type: 'string', describe: 'include this upper directory on top' })
      .option('json', { type: 'boolean', describe: 'machine-readable output' }),
  handler: (argv) => {
    const layersDir = path.resolve(argv['layers-dir']);
    const res = which({ lowerdirs: lowerdirsOf(layersDir), layersDir, upper: argv.upper ? path.resolve(argv.upper) : undefined }, argv.path);
    process.stdout.write(argv.json ? JSON.stringify(res, null, 2) + '\n' : formatWhich(res));
    if (!res.found) process.exitCode = 1;
  },
};
