// Where things live in an OCI image layout, and the one check that keeps a
// digest from a registry from naming a path outside blobs/.
import * as path from 'node:path';
import { OcimountError } from '../errors';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
export const LAYOUT_VERSION = '1.0.0';
/** Prefix of in-flight blob files inside blobs/sha256 (never trusted, removed on failure). */
export const TEMP_PREFIX = '.tmp-';

const SHA256_RE = /^sha256:[0-9a-f]{64}$/;

/** Throws unless digest is "sha256:<64 lowercase hex>" (anything else could escape blobs/). */
export function checkDigest(digest: string): string {
  if (typeof digest !== 'string' || !SHA256_RE.test(digest)) {
    throw new OcimountError('UNSUPPORTED', `unsupported or malformed digest "${String(digest).slice(0, 80)}" (only sha256 is supported)`, { digest });
  }
  return digest;
}

export function blobsDir(layout: string): string {
  return path.join(layout, 'blobs', 'sha256');
}

export function blobPath(layout: string, digest: string): string {
  return path.join(blobsDir(layout), checkDigest(digest).slice(7));
}
