// STOPGAP until src/layout lands: a minimal read-only resolver for
// "DIR[:TAG|@DIGEST]" -> manifest + config + blob paths, with platform
// selection through (nested) indexes. unpack.ts switches to src/layout once
// it exists; nothing else should use this file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { formatPlatform, hostPlatform, selectPlatform } from '../image/platform';
import { REF_NAME_ANNOTATION, isIndexMediaType, isManifestMediaType } from '../image/types';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../image/types';

export interface ResolvedImage {
  layout: string;
  ref?: string;
  manifestDigest: string;
  manifest: Manifest;
  configDigest: string;
  config: ImageConfig;
  platform?: string;
  blobPath(digest: string): string;
}

export function splitLayoutRef(text: string): { dir: string; tag?: string; digest?: string } {
  const at = text.lastIndexOf('@');
  if (at > 0 && /^[a-z0-9]+:[a-f0-9]+$/.test(text.slice(at + 1))) return { dir: text.slice(0, at), digest: text.slice(at + 1) };
  const colon = text.lastIndexOf(':');
  if (colon > 0 && !text.slice(colon + 1).includes('/') && text.slice(colon + 1) !== '') return { dir: text.slice(0, colon), tag: text.slice(colon + 1) };
  return { dir: text };
}

export function resolveLayoutImage(text: string, want: Platform = hostPlatform()): ResolvedImage {
  const { dir, tag, digest } = splitLayoutRef(text);
  const layout = path.resolve(dir);
  if (!fs.existsSync(path.join(layout, 'oci-layout')) || !fs.existsSync(path.join(layout, 'index.json'))) {
    throw new OcimountError('NOT_A_LAYOUT', `${dir} is not an OCI image layout (no oci-layout / index.json)`);
  }
  const blobPath = (d: string): string => {
    const [alg, hex] = d.split(':');
    return path.join(layout, 'blobs', alg, hex);
  };
  const readJson = <T>(d: string): T => {
    try {
      return JSON.parse(fs.readFileSync(blobPath(d), 'utf8')) as T;
    } catch (err) {
      throw new OcimountError('NOT_FOUND', `blob ${d} is missing or unreadable in ${dir}`, {}, { cause: err });
    }
  };
  const top = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as Index;
  let desc: Descriptor | undefined;
  if (digest) {
    desc = top.manifests.find((m) => m.digest === digest) ?? { mediaType: '', digest, size: 0 };
  } else if (tag) {
    desc = top.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!desc) throw new OcimountError('NOT_FOUND', `tag "${tag}" not found in ${dir}`);
  } else {
    if (top.manifests.length !== 1) throw new OcimountError('USAGE', `${dir} holds ${top.manifests.length} images: name one as ${dir}:TAG or ${dir}@DIGEST`);
    desc = top.manifests[0];
  }
  let chosen: string | undefined;
  for (let depth = 0; depth < 8; depth++) {
    const doc = readJson<Manifest & Index>(desc.digest);
    const mt = doc.mediaType ?? desc.mediaType;
    if (isIndexMediaType(mt) || (!mt && Array.isArray(doc.manifests))) {
      desc = selectPlatform(doc.manifests, want);
      chosen = formatPlatform(want);
      continue;
    }
    if (!isManifestMediaType(mt) && !doc.config) throw new OcimountError('UNSUPPORTED', `unsupported manifest media type "${mt}"`);
    const config = readJson<ImageConfig>(doc.config.digest);
    return { layout, ref: tag ?? digest, manifestDigest: desc.digest, manifest: doc, configDigest: doc.config.digest, config, platform: chosen, blobPath };
  }
  throw new OcimountError('UNSUPPORTED', 'image indexes nested too deeply');
}
