// What every command that talks to a registry takes: platform, TLS and credentials.
import * as fs from 'node:fs';
import type { Argv } from 'yargs';
import { OcimountError } from '../index';

export interface RegistryArgs {
  platform?: string;
  insecure?: boolean;
  username?: string;
  'password-stdin'?: boolean;
}

export function registryOptions<T>(y: Argv<T>): Argv<T & RegistryArgs> {
  return y
    .option('platform', { type: 'string', describe: 'image to pick from a multi-platform index, os/arch[/variant] (default: this host)' })
    .option('insecure', { type: 'boolean', describe: 'allow plain HTTP and unverified TLS (automatic for loopback registries)' })
    .option('username', { alias: 'u', type: 'string', describe: 'registry user name (with --password-stdin)' })
    .option('password-stdin', { type: 'boolean', describe: 'read the registry password from stdin' }) as Argv<T & RegistryArgs>;
}

/** --username with --password-stdin (never a password on the command line). */
export function readCredentials(args: RegistryArgs): { username: string; password: string } | undefined {
  if (args['password-stdin']) {
    if (!args.username) throw new OcimountError('USAGE', '--password-stdin needs --username');
    const password = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '');
    if (!password) throw new OcimountError('USAGE', '--password-stdin: no password on stdin');
    return { username: args.username, password };
  }
  if (args.username) throw new OcimountError('USAGE', '--username needs --password-stdin (passwords are never taken on the command line)');
  return undefined;
}
