// Where `up` gets its image: a registry reference pulled into the shared store, or a
// local OCI layout named "oci:DIR[:TAG|@DIGEST]" (skopeo's transport syntax), used in place.
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { parsePlatform } from '../image/platform';
import { resolveLayoutImage } from '../layout';

export interface PullAuth {
  username: string;
  password: string;
}

export interface PullToStoreOptions {
  platform?: string;
  insecure?: boolean;
  auth?: PullAuth;
}

export interface StoredImage {
  /** What unpack takes: LAYOUT@DIGEST (or the local layout reference). */
  layoutRef: string;
  /** The platform-specific manifest unpack will use. */
  manifestDigest: string;
  /** false when the image was read from a local layout rather than the store. */
  pulled: boolean;
}

export const LOCAL_PREFIX = 'oci:';

function manifestOf(layoutRef: string, platform?: string): string {
  return resolveLayoutImage(layoutRef, platform ? parsePlatform(platform) : undefined).manifestDigest;
}

export async function pullToStore(imageRef: string, store: string, opts: PullToStoreOptions = {}): Promise<StoredImage> {
  if (imageRef.startsWith(LOCAL_PREFIX)) {
    const rest = imageRef.slice(LOCAL_PREFIX.length);
    const layoutRef = path.resolve(rest.split(/(?=[:@][^/]*$)/)[0]) + (rest.match(/[:@][^/]*$/)?.[0] ?? '');
    return { layoutRef, manifestDigest: manifestOf(layoutRef, opts.platform), pulled: false };
  }
  throw new OcimountError('UNSUPPORTED', `pulling ${imageRef} into ${store}: pull is not available yet`);
}
