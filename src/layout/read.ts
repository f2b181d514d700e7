// Read side of an OCI image layout: "DIR[:TAG|@DIGEST]" -> the image manifest,
// its config and where its blobs are, choosing a platform through (nested) indexes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { formatPlatform, hostPlatform, selectPlatform } from '../image/platform';
import { REF_NAME_ANNOTATION, isIndexMediaType, isManifestMediaType } from '../image/types';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../image/types';
import { INDEX_FILE, OCI_LAYOUT_FILE, blobPath } from './paths';

export interface ResolvedImage {
  layout: string;
  /** The tag or digest named (undefined when the layout's single image was taken). */
  ref?: string;
  manifestDigest: string;
  manifest: Manifest;
  configDigest: string;
  config: ImageConfig;
  /** The platform chosen when the reference named an index. */
  platform?: string;
  blobPath(digest: string): string;
}

/** "DIR", "DIR:TAG" or "DIR@sha256:…" (a colon followed by a slash belongs to the path). */
export function splitLayoutRef(text: string): { dir: string; tag?: string; digest?: string } {
  const at = text.lastIndexOf('@');
  if (at > 0 && /^[a-z0-9]+:[a-f0-9]+$/.test(text.slice(at + 1))) return { dir: text.slice(0, at), digest: text.slice(at + 1) };
  const colon = text.lastIndexOf(':');
  if (colon > 0 && !text.slice(colon + 1).includes('/') && text.slice(colon + 1) !== '') return { dir: text.slice(0, colon), tag: text.slice(colon + 1) };
  return { dir: text };
}

/** Whether dir holds an oci-layout file (the layout marker). */
export function isLayout(dir: string): boolean {
  return fs.existsSync(path.join(dir, OCI_LAYOUT_FILE));
}

/** The layout's index.json; NOT_A_LAYOUT when dir is not a layout. */
export function readIndex(dir: string): Index {
  if (!isLayout(dir) || !fs.existsSync(path.join(dir, INDEX_FILE))) {
    throw new OcimountError('NOT_A_LAYOUT', `${dir} is not an OCI image layout (no oci-layout / index.json)`, { dir });
  }
  let idx: Index;
  try {
    idx = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as Index;
  } catch (err) {
    throw new OcimountError('NOT_A_LAYOUT', `${dir}/index.json is not readable JSON`, { dir }, { cause: err });
  }
  if (!idx || !Array.isArray(idx.manifests)) throw new OcimountError('NOT_A_LAYOUT', `${dir}/index.json has no manifests list`, { dir });
  return idx;
}

/** The descriptor tagged TAG in index.json, if any. */
export function findTag(idx: Index, tag: string): Descriptor | undefined {
  return idx.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
}

function readJsonBlob<T>(layout: string, shown: string, digest: string): T {
  try {
    return JSON.parse(fs.readFileSync(blobPath(layout, digest), 'utf8')) as T;
  } catch (err) {
    if ((err as OcimountError).ocimountError) throw err;
    throw new OcimountError('NOT_FOUND', `blob ${digest} is missing or unreadable in ${shown}`, { digest }, { cause: err });
  }
}

/** Resolves "DIR[:TAG|@DIGEST]" to one image, picking `want` (default: this host) from indexes. */
export function resolveLayoutImage(text: string, want: Platform = hostPlatform()): ResolvedImage {
  const { dir, tag, digest } = splitLayoutRef(text);
  const layout = path.resolve(dir);
  const top = readIndex(layout);
  let desc: Descriptor | undefined;
  if (digest) {
    desc = top.manifests.find((m) => m.digest === digest) ?? { mediaType: '', digest, size: 0 };
  } else if (tag) {
    desc = findTag(top, tag);
    if (!desc) {
      const tags = top.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean);
      throw new OcimountError('NOT_FOUND', `tag "${tag}" not found in ${dir}${tags.length ? ` (it has: ${tags.join(', ')})` : ''}`, { tag });
    }
  } else {
    if (top.manifests.length !== 1) throw new OcimountError('USAGE', `${dir} holds ${top.manifests.length} images: name one as ${dir}:TAG or ${dir}@DIGEST`);
    desc = top.manifests[0];
  }
  let chosen: string | undefined;
  for (let depth = 0; depth < 8; depth++) {
    const doc = readJsonBlob<Manifest & Index>(layout, dir, desc.digest);
    const mt = doc.mediaType ?? desc.mediaType;
    if (isIndexMediaType(mt) || (!mt && Array.isArray(doc.manifests))) {
      desc = selectPlatform(doc.manifests, want);
      chosen = formatPlatform(want);
      continue;
    }
    if (!doc.config || !Array.isArray(doc.layers)) {
      throw new OcimountError('UNSUPPORTED', `unsupported manifest media type "${mt}"${isManifestMediaType(mt) ? ' (no config or layers)' : ''}`);
    }
    const config = readJsonBlob<ImageConfig>(layout, dir, doc.config.digest);
    return {
      layout,
      ref: tag ?? digest,
      manifestDigest: desc.digest,
      manifest: doc,
      configDigest: doc.config.digest,
      config,
      platform: chosen,
      blobPath: (d: string) => blobPath(layout, d),
    };
  }
  throw new OcimountError('UNSUPPORTED', 'image indexes nested too deeply');
}
