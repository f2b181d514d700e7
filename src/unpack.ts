// `unpack`: an image in an OCI layout -> LAYERS_DIR/N for each layer N (0 = base),
// plus LAYERS_DIR/layers.json. A thin layer over unpackLayers(), which knows
// nothing of layouts: it takes any list of {descriptor, diffId, open()}.
import * as fs from 'node:fs';
import { OcimountError } from './errors';
import { parsePlatform } from './image/platform';
import type { Platform } from './image/types';
import type { LayerSource } from './layers/apply';
import { resolveLayoutImage } from './layout';
import { unpackLayers } from './layers/unpack-layers';
import type { UnpackLayersOptions, UnpackLayersResult } from './layers/unpack-layers';

export interface UnpackOptions extends Omit<UnpackLayersOptions, 'source'> {
  /** Which image of a multi-platform index: "linux/arm64/v8" or a Platform. Default: this host. */
  platform?: string | Platform;
}

export async function unpack(layoutRef: string, layersDir: string, opts: UnpackOptions = {}): Promise<UnpackLayersResult> {
  const want = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
  const img = resolveLayoutImage(layoutRef, want);
  const diffIds = img.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== img.manifest.layers.length) {
    throw new OcimountError('CORRUPT', `image config lists ${diffIds.length} diff_ids but the manifest has ${img.manifest.layers.length} layers`);
  }
  const sources: LayerSource[] = img.manifest.layers.map((descriptor, i) => {
    const file = img.blobPath(descriptor.digest);
    if (!fs.existsSync(file)) {
      const foreign = descriptor.urls?.length ? ' (a non-distributable layer: fetch it from its URLs first)' : '';
      throw new OcimountError('NOT_FOUND', `layer ${i} blob ${descriptor.digest} is missing from ${img.layout}${foreign}`, { layer: i, digest: descriptor.digest });
    }
    return { descriptor, diffId: diffIds[i], open: () => fs.createReadStream(file, { highWaterMark: 256 * 1024 }) };
  });
  const { platform: _p, ...rest } = opts;
  return unpackLayers(sources, layersDir, {
    ...rest,
    source: { layout: img.layout, ref: img.ref, manifestDigest: img.manifestDigest, configDigest: img.configDigest, ...(img.platform ? { platform: img.platform } : {}) },
  });
}
