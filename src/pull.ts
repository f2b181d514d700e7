// `pull`: image reference → OCI image layout. The registry client fetches; the
// layout verifies and publishes. Order matters for crash safety: config and
// layers first (concurrently, bounded), then the manifests that name them, then
// the index.json entry last, so a pull that fails leaves nothing a later run
// trusts (blobs already verified stay and are reused).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError, isOcimountError } from './errors';
import { defaultKeychain, multiKeychain, staticKeychain } from './auth';
import type { Keychain } from './auth';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectPlatform } from './image/platform';
import { isIndexMediaType, isManifestMediaType } from './image/types';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from './image/types';
import { blobPath, initLayout, ociIndex, ociManifest, putIndexEntry, readIndex, removeStaleTempBlobs, writeBlob, writeBlobBytes } from './layout';
import { formatReference, parseReference } from './ref';
import { openRepository } from './registry';
import type { FetchedManifest, RepositoryClient } from './registry';

export type PullBlobKind = 'config' | 'layer' | 'manifest' | 'index';

export interface PullProgress {
  digest: string;
  kind: PullBlobKind;
  mediaType: string;
  phase: 'start' | 'progress' | 'done' | 'skipped';
  /** Bytes on disk so far. */
  bytes: number;
  total: number;
  /** Times the body was resumed after being cut off. */
  resumed?: number;
}

export interface PullOptions {
  /** Which image of a multi-platform index: "linux/arm64/v8" or a Platform. Default: this host. */
  platform?: string | Platform;
  /** The index.json ref.name to give the image (default: the reference's tag; null for none). */
  refName?: string | null;
  /** Keep the whole index and every image in it. */
  allPlatforms?: boolean;
  /** Where credentials come from; default: Docker/containers config files (defaultKeychain). */
  keychain?: Keychain;
  /** Explicit credentials (--username/--password-stdin); win over the keychain. */
  credentials?: { username: string; password: string };
  /** Plain HTTP and unverified TLS (loopback registries get it automatically). */
  insecure?: boolean;
  ca?: string | Buffer;
  /** Ctrl-C: aborts requests in flight; temp files are removed before pull returns. */
  signal?: AbortSignal;
  onProgress?(p: PullProgress): void;
  /** Blobs downloaded at once (default 3). */
  concurrency?: number;
  /** Registry client retries per request (default: the client's). */
  retries?: number;
  backoffMs?: number;
  /** How many times a body cut off mid-way is resumed with a Range request (default 3). */
  resumes?: number;
  log?(line: string): void;
}

export interface PullResult {
  /** The layout directory (absolute). */
  layout: string;
  /** The fully qualified reference pulled. */
  reference: string;
  /** The ref.name given to the index.json entry (undefined when pulled by digest alone). */
  tag?: string;
  /** Digest of the index.json entry: the platform manifest, or the index with allPlatforms (OCI form: Docker schema2 is converted). */
  digest: string;
  mediaType: string;
  /** The image manifest chosen for the platform (equal to digest unless allPlatforms kept an index). */
  manifestDigest: string;
  /** The registry's digest of the entry (differs from digest when a Docker manifest was converted to OCI). */
  sourceDigest: string;
  /** The platform chosen from an index, if one was. */
  platform?: string;
  /** What unpack takes: LAYOUT:TAG or LAYOUT@DIGEST. */
  layoutRef: string;
  blobs: { fetched: number; skipped: number; bytesFetched: number };
}

interface Node {
  desc: Descriptor;
  fetched: FetchedManifest;
  doc: Manifest & Index;
  kind: 'manifest' | 'index';
}

function parseDoc(m: FetchedManifest, what: string): { doc: Manifest & Index; kind: 'manifest' | 'index'; mediaType: string } {
  let doc: Manifest & Index;
  try {
    doc = JSON.parse(m.body.toString('utf8')) as Manifest & Index;
  } catch {
    throw new OcimountError('PROTOCOL', `${what} is not JSON`);
  }
  const mediaType = (typeof doc.mediaType === 'string' && doc.mediaType) || m.mediaType;
  if (isIndexMediaType(mediaType) || (Array.isArray(doc.manifests) && !doc.config)) {
    if (!Array.isArray(doc.manifests)) throw new OcimountError('PROTOCOL', `${what} is an index without a manifests list`);
    return { doc, kind: 'index', mediaType };
  }
  if (isManifestMediaType(mediaType) || doc.config) {
    if (!doc.config || !Array.isArray(doc.layers)) throw new OcimountError('PROTOCOL', `${what} is a manifest without config or layers`);
    return { doc, kind: 'manifest', mediaType };
  }
  throw new OcimountError('UNSUPPORTED', `${what} has unsupported media type "${mediaType}"`, { mediaType });
}

function keychainFor(opts: PullOptions, registry: string): Keychain {
  const base = opts.keychain ?? defaultKeychain();
  if (!opts.credentials) return base;
  return multiKeychain(staticKeychain({ kind: 'basic', ...opts.credentials }, registry), base);
}

/** Runs tasks with at most n at once; on the first failure stops starting new ones, waits for the rest, and throws it. */
async function runBounded<T>(items: T[], n: number, task: (item: T) => Promise<void>, onFirstError: () => void): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (err) {
        if (!failure) {
          failure = { err };
          onFirstError();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failure) throw failure.err;
}

/** Removes a layout this run created when it holds no blob and no entry (verified blobs stay for a retry). */
function removeIfEmptyLayout(layout: string): void {
  try {
    const blobs = fs.readdirSync(path.join(layout, 'blobs', 'sha256')).filter((n) => !n.startsWith('.'));
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as Index;
    if (blobs.length === 0 && index.manifests.length === 0) fs.rmSync(layout, { recursive: true, force: true });
  } catch {
    // not ours to judge: leave it
  }
}

/** Pulls refText into the OCI layout dir (created when missing or empty). */
export async function pull(refText: string, dir: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(refText);
  const want = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : (opts.platform ?? hostPlatform());
  // A pull that fails before anything is kept must not leave a new, empty layout behind.
  const existed = fs.existsSync(dir);
  const layout = await initLayout(dir);
  readIndex(layout); // an unreadable index.json fails now, not after the download
  removeStaleTempBlobs(layout);

  // Our own controller: the caller's signal, or the first failed blob, stops every request.
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const progress = opts.onProgress ?? (() => undefined);
  try {
    const client = openRepository(
      { registry: ref.registry, repository: ref.repository },
      {
        keychain: keychainFor(opts, ref.registry),
        insecure: opts.insecure,
        ca: opts.ca,
        signal: ac.signal,
        ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
        ...(opts.backoffMs !== undefined ? { backoffMs: opts.backoffMs } : {}),
        log: opts.log,
      },
    );
    const name = formatReference(ref);
    const top = await client.manifest(ref.digest ?? ref.tag!);
    const topParsed = parseDoc(top, `manifest ${name}`);
    const topDesc: Descriptor = { mediaType: topParsed.mediaType, digest: top.digest, size: top.size };

    // Walk down from the top: every manifest to write (children before parents) and every blob.
    const nodes: Node[] = [];
    const blobs = new Map<string, { desc: Descriptor; kind: PullBlobKind }>();
    let chosen: Descriptor | undefined;
    let chosenPlatform: string | undefined;
    const visit = async (desc: Descriptor, fetched: FetchedManifest, depth: number): Promise<void> => {
      if (depth > 8) throw new OcimountError('UNSUPPORTED', `${name}: image indexes nested too deeply`);
      const what = `manifest ${ref.repository}@${desc.digest}`;
      if (fetched.digest !== desc.digest || fetched.size !== desc.size) {
        throw new OcimountError('DIGEST_MISMATCH', `${what}: the registry served ${fetched.digest} (${fetched.size} bytes), not what its index says (${desc.size} bytes)`);
      }
      const { doc, kind, mediaType } = parseDoc(fetched, what);
      const node: Node = { desc: { ...desc, mediaType: desc.mediaType || mediaType }, fetched, doc, kind };
      if (kind === 'index') {
        const children = opts.allPlatforms ? doc.manifests : [selectPlatform(doc.manifests, want)];
        if (!opts.allPlatforms) chosenPlatform = formatPlatform(children[0].platform ?? want);
        for (const child of children) await visit(child, await client.manifest(child.digest), depth + 1);
        if (opts.allPlatforms) nodes.push(node);
        return;
      }
      chosen ??= node.desc;
      if (!blobs.has(doc.config.digest)) blobs.set(doc.config.digest, { desc: doc.config, kind: 'config' });
      for (const l of doc.layers) if (!blobs.has(l.digest)) blobs.set(l.digest, { desc: l, kind: 'layer' });
      nodes.push(node);
    };
    await visit(topDesc, top, 0);
    if (!chosen) throw new OcimountError('NOT_FOUND', `${name} holds no image manifest`);

    // Config and layers, concurrently.
    const tally = { fetched: 0, skipped: 0, bytesFetched: 0 };
    const fetchBlob = async ({ desc, kind }: { desc: Descriptor; kind: PullBlobKind }): Promise<void> => {
      const base = { digest: desc.digest, kind, mediaType: desc.mediaType, total: desc.size };
      progress({ ...base, phase: 'start', bytes: 0 });
      const r = await writeBlob(
        layout,
        { digest: desc.digest, size: desc.size },
        async (offset) => {
          const res = await client.blob(desc.digest, { offset });
          return { stream: res.stream, offset: res.offset };
        },
        {
          signal: ac.signal,
          resumes: opts.resumes,
          onBytes: (bytes) => progress({ ...base, phase: 'progress', bytes }),
          onResume: (offset, err) => opts.log?.(`resuming ${desc.digest} at byte ${offset} (${(err as Error).message})`),
        },
      );
      if (r.skipped) tally.skipped++;
      else {
        tally.fetched++;
        tally.bytesFetched += desc.size;
      }
      progress({ ...base, phase: r.skipped ? 'skipped' : 'done', bytes: desc.size, resumed: r.resumed });
    };
    // An image that is one manifest, not an index, names its platform only in its config:
    // fetch that first when a platform was asked for, and refuse a different one.
    if (topParsed.kind === 'manifest' && opts.platform !== undefined) {
      const cfg = blobs.get(topParsed.doc.config.digest)!;
      await fetchBlob(cfg);
      blobs.delete(cfg.desc.digest);
      const have = JSON.parse(fs.readFileSync(blobPath(layout, cfg.desc.digest), 'utf8')) as ImageConfig;
      const havePlatform = { os: have.os ?? '', architecture: have.architecture ?? '', ...(have.variant ? { variant: have.variant } : {}) };
      if (!platformMatches(want, havePlatform)) {
        throw new OcimountError('NOT_FOUND', `${name} is a single-platform image for ${formatPlatform(havePlatform)}, not ${formatPlatform(want)}`, { platforms: [formatPlatform(havePlatform)] });
      }
    }
    await runBounded([...blobs.values()], opts.concurrency ?? 3, fetchBlob, () => ac.abort(new OcimountError('INTERNAL', 'stopped: another blob failed')));

    // Manifests (children first, then their index), in OCI form, then the entry that makes it all visible.
    const inLayout = new Map<string, Descriptor>();
    for (const n of nodes) {
      const conv = n.kind === 'index' ? ociIndex(n.doc, n.desc, inLayout) : ociManifest(n.doc, n.desc);
      const desc = conv?.desc ?? n.desc;
      const r = await writeBlobBytes(layout, { digest: desc.digest, size: desc.size }, conv?.body ?? n.fetched.body, { signal: ac.signal });
      if (conv) inLayout.set(n.desc.digest, desc);
      progress({ digest: desc.digest, kind: n.kind, mediaType: desc.mediaType, phase: r.skipped ? 'skipped' : 'done', bytes: desc.size, total: desc.size });
    }
    const inLayoutOf = (d: Descriptor): Descriptor => inLayout.get(d.digest) ?? d;
    const entry: Descriptor = inLayoutOf(opts.allPlatforms ? topDesc : chosen);
    // Pulled by digest alone: no ref.name (a digest is not a tag); name:tag@digest keeps the tag.
    const tag = opts.refName === null ? undefined : (opts.refName ?? ref.tag);
    await putIndexEntry(layout, entry, tag);
    return {
      layout,
      reference: name,
      tag,
      digest: entry.digest,
      mediaType: entry.mediaType,
      manifestDigest: inLayoutOf(chosen).digest,
      sourceDigest: (opts.allPlatforms ? topDesc : chosen).digest,
      ...(chosenPlatform ? { platform: chosenPlatform } : {}),
      // A ref.name with "/" or ":" (the store names entries by full reference) cannot follow "DIR:".
      layoutRef: tag && !/[/:]/.test(tag) ? `${layout}:${tag}` : `${layout}@${entry.digest}`,
      blobs: tally,
    };
  } catch (err) {
    if (!existed) removeIfEmptyLayout(layout);
    // Ctrl-C: say so once, whatever request noticed first.
    if (opts.signal?.aborted && !isOcimountError(err, 'NO_SPACE')) {
      const reason = opts.signal.reason;
      throw isOcimountError(reason) ? reason : new OcimountError('INTERNAL', `pull of ${refText} interrupted`, { interrupted: true }, { cause: err });
    }
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
