// Every CLI command, one module each. Each module exports a yargs CommandModule.
import type { CommandModule } from 'yargs';
import { unpackCommand } from './unpack';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [unpackCommand];
