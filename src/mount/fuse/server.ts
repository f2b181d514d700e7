// The background FUSE server: `node server.js SPEC_JSON`, started detached by
// mountFuse with its output in the mount's log file. It serves until SIGTERM,
// SIGINT or an unmount from outside, then exits.
import { isOcimountError } from '../../errors';
import type { MountSpec } from '../spec';
import { runServer } from './index';

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as MountSpec;
  await runServer(spec, () => process.stdout.write(`ocimount-server: serving ${spec.target} (pid ${process.pid})\n`));
  process.stdout.write(`ocimount-server: ${spec.target} unmounted\n`);
  process.exit(0);
}

main().catch((err) => {
  if (isOcimountError(err)) process.stdout.write(`ocimount-server: ${err.code}: ${err.message}\n`);
  else process.stdout.write(`ocimount-server: INTERNAL: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
