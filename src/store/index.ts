// Where the shared content store lives: one OCI layout whose blobs every image and every
// `up` reuses. Users get it under XDG_DATA_HOME, root under /var/lib, as both conventions say.
import * as os from 'node:os';
import * as path from 'node:path';

export interface StoreEnv {
  uid?: number;
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/** The default store directory: /var/lib/ocimount/store for root, $XDG_DATA_HOME/ocimount/store otherwise. */
export function defaultStoreDir(e: StoreEnv = {}): string {
  const uid = e.uid ?? process.geteuid?.() ?? 0;
  const env = e.env ?? process.env;
  if (uid === 0) return '/var/lib/ocimount/store';
  const xdg = env.XDG_DATA_HOME;
  // XDG says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'ocimount', 'store');
  const home = e.home ?? env.HOME ?? os.homedir();
  return path.join(home, '.local', 'share', 'ocimount', 'store');
}

/** The store to use: an explicit --store wins, else OCIMOUNT_STORE, else the default. */
export function storeDir(explicit?: string, e: StoreEnv = {}): string {
  if (explicit) return path.resolve(explicit);
  const env = e.env ?? process.env;
  if (env.OCIMOUNT_STORE) return path.resolve(env.OCIMOUNT_STORE);
  return defaultStoreDir(e);
}
