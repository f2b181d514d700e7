// Judging a fetched manifest body (pure): refuse Docker schema1, name its media
// type, and check its digest against what we asked for and what the registry
// claimed. The body's bytes are what is hashed, never a re-serialisation.
import { createHash } from 'node:crypto';
import { OcimountError } from '../errors';
import { isSchema1MediaType, MediaType } from '../image/types';

/** Registries refuse manifests larger than this (distribution's own limit). */
export const MANIFEST_BODY_CAP = 4 * 1024 * 1024;

export const SCHEMA1_MESSAGE = 'Docker schema1 manifests are not supported; re-push the image with a current client';

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Content types that say nothing about which manifest this is. */
const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream']);

export type ManifestReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/** A tag or a sha256 digest; anything else is USAGE (or UNSUPPORTED for other algorithms). */
export function parseManifestReference(reference: string): ManifestReference {
  if (SHA256_DIGEST.test(reference)) return { kind: 'digest', digest: reference };
  if (reference.includes(':')) {
    if (ANY_DIGEST.test(reference) && !reference.startsWith('sha256:')) {
      throw new OcimountError('UNSUPPORTED', `digest algorithm of ${reference} is not supported; only sha256 is`);
    }
    throw new OcimountError('USAGE', `"${reference}" is not a sha256 digest (sha256:<64 lowercase hex digits>)`);
  }
  if (!TAG.test(reference)) throw new OcimountError('USAGE', `"${reference}" is not a valid tag`);
  return { kind: 'tag', tag: reference };
}

export function sha256Digest(data: Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

function baseType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

export interface JudgedManifest {
  mediaType: string;
  digest: string;
}

export interface JudgeContext {
  /** "manifest ns/app:v1". */
  what: string;
  registry: string;
  reference: ManifestReference;
  contentType?: string;
  /** The Docker-Content-Digest header, when sent. */
  claimedDigest?: string;
}

export function judgeManifest(body: Buffer, ctx: JudgeContext): JudgedManifest {
  const ct = baseType(ctx.contentType);
  if (isSchema1MediaType(ct)) throw new OcimountError('UNSUPPORTED', `${ctx.what}: ${SCHEMA1_MESSAGE}`, { mediaType: ct });
  let doc: { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch {
    throw new OcimountError('PROTOCOL', `${ctx.what} from ${ctx.registry} is not JSON`, { contentType: ct });
  }
  if (typeof doc !== 'object' || doc === null) throw new OcimountError('PROTOCOL', `${ctx.what} from ${ctx.registry} is not a JSON object`);
  if (doc.schemaVersion === 1 || isSchema1MediaType(typeof doc.mediaType === 'string' ? doc.mediaType : undefined)) {
    throw new OcimountError('UNSUPPORTED', `${ctx.what}: ${SCHEMA1_MESSAGE}`, { mediaType: ct || 'schemaVersion 1' });
  }
  const digest = sha256Digest(body);
  if (ctx.reference.kind === 'digest' && ctx.reference.digest !== digest) {
    throw new OcimountError('DIGEST_MISMATCH', `${ctx.what} from ${ctx.registry} hashes to ${digest}, not the digest asked for`, {
      expected: ctx.reference.digest,
      actual: digest,
    });
  }
  const claimed = ctx.claimedDigest?.trim();
  if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
    throw new OcimountError('DIGEST_MISMATCH', `${ctx.what} from ${ctx.registry} hashes to ${digest} but the registry says ${claimed}`, {
      expected: claimed,
      actual: digest,
    });
  }
  let mediaType = ct;
  if (GENERIC_TYPES.has(ct)) {
    if (typeof doc.mediaType === 'string' && doc.mediaType) mediaType = doc.mediaType;
    // Neither header nor field: the shape tells (both are optional in OCI).
    else if (Array.isArray(doc.manifests)) mediaType = MediaType.OciIndex;
    else if (doc.config && Array.isArray(doc.layers)) mediaType = MediaType.OciManifest;
    else throw new OcimountError('PROTOCOL', `${ctx.what} from ${ctx.registry} is neither a manifest nor an index`, { contentType: ct });
  }
  return { mediaType, digest };
}
