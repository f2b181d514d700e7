// RepositoryClient over a Session: manifests read whole (capped, judged,
// digest-checked), blobs handed back as streams with the offset the registry
// actually served. The caller verifies blob digests while streaming.
import { OcimountError, isOcimountError } from '../errors';
import { MANIFEST_ACCEPT } from '../image/types';
import { bodyStream, readBody } from './body';
import { redactUrl } from './errors';
import { judgeManifest, MANIFEST_BODY_CAP, parseManifestReference } from './manifest';
import { Session } from './session';
import type { SessionOptions } from './session';
import type { BlobResponse, FetchedManifest, RepositoryClient } from './types';

const BLOB_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** "bytes 100-199/200" → start and total (total undefined when "*"). */
export function parseContentRange(v: string | undefined): { start: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec((v ?? '').trim());
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

export class RegistryRepository implements RepositoryClient {
  readonly registry: string;
  readonly repository: string;
  private readonly session: Session;

  constructor(opts: SessionOptions) {
    this.registry = opts.registry;
    this.repository = opts.repository;
    this.session = new Session(opts);
  }

  async manifest(reference: string): Promise<FetchedManifest> {
    const ref = parseManifestReference(reference);
    const what = `manifest ${this.repository}${ref.kind === 'digest' ? '@' : ':'}${reference}`;
    return this.session.request({
      path: `/v2/${this.repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      what,
      handle: async (res, url) => {
        const body = await readBody(res, MANIFEST_BODY_CAP, { what, registry: this.registry, url, idleMs: this.session.transport.idleMs });
        const claimed = res.headers['docker-content-digest'];
        const judged = judgeManifest(body, {
          what,
          registry: this.registry,
          reference: ref,
          contentType: res.headers['content-type'],
          claimedDigest: Array.isArray(claimed) ? claimed[0] : claimed,
        });
        return { ...judged, size: body.length, body };
      },
    });
  }

  async blob(digest: string, opts: { offset?: number } = {}): Promise<BlobResponse> {
    if (!BLOB_DIGEST.test(digest)) {
      throw new OcimountError(digest.startsWith('sha256:') ? 'USAGE' : 'UNSUPPORTED', `blob digest "${digest.slice(0, 80)}" is not a sha256 digest`);
    }
    const offset = Math.max(0, Math.floor(opts.offset ?? 0));
    try {
      return await this.fetchBlob(digest, offset);
    } catch (e) {
      // Asked past the end (a download that had in fact completed): start over.
      if (offset > 0 && isOcimountError(e) && e.details.status === 416) return this.fetchBlob(digest, 0);
      throw e;
    }
  }

  private fetchBlob(digest: string, offset: number): Promise<BlobResponse> {
    const what = `blob ${digest} of ${this.repository}`;
    return this.session.request({
      path: `/v2/${this.repository}/blobs/${digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      what,
      handle: async (res, url) => {
        const ctx = { what, registry: this.registry, url, idleMs: this.session.transport.idleMs };
        const length = Number(res.headers['content-length']);
        if (res.statusCode === 206) {
          const range = parseContentRange(res.headers['content-range']);
          if (!range || range.start !== offset) {
            res.destroy();
            throw new OcimountError('PROTOCOL', `${this.registry} answered the range request for ${what} with ${range ? `bytes from ${range.start}` : 'no usable Content-Range'}, not from ${offset}`, { url: redactUrl(url) });
          }
          const size = range.total ?? (Number.isFinite(length) ? offset + length : undefined);
          return { stream: bodyStream(res, ctx, this.session.transport.signal), offset, size };
        }
        // 200: the whole blob, whatever was asked.
        return { stream: bodyStream(res, ctx, this.session.transport.signal), offset: 0, size: Number.isFinite(length) && res.headers['content-length'] !== undefined ? length : undefined };
      },
    });
  }
}
