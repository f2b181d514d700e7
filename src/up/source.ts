// Where `up` gets its image: a registry reference pulled into the shared store, or a
// local OCI layout named "oci:DIR[:TAG|@DIGEST]" (skopeo's transport syntax), used in place.
import * as path from 'node:path';
import { parsePlatform } from '../image/platform';
import { resolveLayoutImage } from '../layout';
import { pull } from '../pull';
import type { PullProgress } from '../pull';
import { formatReference, parseReference } from '../ref';

export interface PullAuth {
  username: string;
  password: string;
}

export interface PullToStoreOptions {
  platform?: string;
  insecure?: boolean;
  auth?: PullAuth;
  signal?: AbortSignal;
  onProgress?(p: PullProgress): void;
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
  // The store holds many repositories: name each entry by its full reference, so
  // "a/x:latest" and "b/y:latest" do not replace each other.
  const res = await pull(imageRef, store, {
    platform: opts.platform,
    insecure: opts.insecure,
    credentials: opts.auth,
    signal: opts.signal,
    onProgress: opts.onProgress,
    refName: formatReference(parseReference(imageRef)),
  });
  return { layoutRef: `${res.layout}@${res.manifestDigest}`, manifestDigest: res.manifestDigest, pulled: true };
}
