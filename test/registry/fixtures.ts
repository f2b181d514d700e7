// Shared fixtures for registry client tests: mini-web:v1 built in code, pushed
// to a real registry, and helpers to read what the client returns.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { miniWeb, sha256, writeImage } from '../../src/dev/image-builder';
import type { WrittenImage } from '../../src/dev/image-builder';
import { MediaType, REF_NAME_ANNOTATION } from '../../src/image/types';
import type { Creds, Registry } from '../../src/dev/registry-server';
import { makeTmp } from '../helpers/env';

export interface Pushed {
  layout: string;
  image: WrittenImage;
  /** The bytes of a blob as the layout holds them. */
  blob(digest: string): Buffer;
  manifestBody: Buffer;
}

/** Builds mini-web:v1 once per call and pushes it as REPO:TAG. */
export async function pushMiniWeb(reg: Registry, repoAndTag: string, creds?: Creds): Promise<Pushed> {
  const layout = makeTmp('regfix');
  const image = writeImage(layout, miniWeb(), { tag: 'v1' });
  await reg.push(layout, 'v1', repoAndTag, creds);
  const blob = (digest: string): Buffer => fs.readFileSync(path.join(layout, 'blobs', 'sha256', digest.slice(7)));
  return { layout, image, blob, manifestBody: blob(image.manifestDigest) };
}

/**
 * An image whose manifest (~200 KiB, padded with an annotation) and layer
 * (1 MiB of random bytes, uncompressed) each arrive in several reads: a fault
 * proxy can then cut them after the headers and a few bytes.
 */
export async function pushBigImage(reg: Registry, repoAndTag: string, creds?: Creds): Promise<Pushed & { manifestDigest: string; layerDigest: string }> {
  const layout = makeTmp('regbig');
  const image = writeImage(layout, { layers: [{ compression: 'none', entries: [{ type: 'file', path: 'random.bin', content: randomBytes(1 << 20) }] }] });
  const manifest = { ...image.manifest, annotations: { 'org.ocimount.test.padding': 'p'.repeat(200 * 1024) } };
  const json = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = sha256(json);
  fs.writeFileSync(path.join(layout, 'blobs', 'sha256', manifestDigest.slice(7)), json);
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ mediaType: MediaType.OciManifest, digest: manifestDigest, size: json.length, annotations: { [REF_NAME_ANNOTATION]: 'v1' } }],
  };
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
  await reg.push(layout, 'v1', repoAndTag, creds);
  const blob = (digest: string): Buffer => fs.readFileSync(path.join(layout, 'blobs', 'sha256', digest.slice(7)));
  return { layout, image, blob, manifestBody: json, manifestDigest, layerDigest: image.manifest.layers[0].digest };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Resolves to the rejection of p (fails the test if p resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection, got a result');
}
