// Every CLI command, one module each. Each module exports a yargs CommandModule.
import type { CommandModule } from 'yargs';
import { pullCommand } from './pull';
import { unpackCommand } from './unpack';
import { mountCommand } from './mount';
import { umountCommand } from './umount';
import { whichCommand } from './which';
import { upCommand } from './up';
import { downCommand } from './down';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [pullCommand, unpackCommand, mountCommand, umountCommand, whichCommand, upCommand, downCommand];
