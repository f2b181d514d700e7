// LAYERS_DIR/layers.json: what `unpack` did, so that mount, trace and `which`
// can name each layer (index + short digest) and refuse a half-finished dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';

/** How whiteouts and opaque directories are stored on disk in a layer dir. */
export type WhiteoutFormat =
  /** `.wh.NAME` -> 0/0 char device NAME; `.wh..wh..opq` -> overlay.opaque=y xattr (trusted.* or user.*) */
  | 'overlay'
  /** whiteout files kept exactly as in the tar */
  | 'oci';

export interface LayerRecord {
  /** 0 = base layer; the directory is LAYERS_DIR/<index>. */
  index: number;
  /** Compressed blob digest (the manifest's layers[index].digest). */
  digest: string;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids[index]). */
  diffId: string;
  mediaType: string;
  /** Compressed size in bytes. */
  size: number;
}

export interface LayersRecord {
  version: 1;
  /** The layout and reference the layers came from. */
  source: { layout: string; ref?: string; manifestDigest: string; configDigest: string; platform?: string };
  format: WhiteoutFormat;
  /** overlay format only: opaque markers use user.overlay.* instead of trusted.overlay.* */
  userxattr: boolean;
  /** Unpacked without privileges: ownership/devices recorded in user.containers.override_stat. */
  rootless: boolean;
  layers: LayerRecord[];
}

export const RECORD_FILE = 'layers.json';

export function layerDir(layersDir: string, index: number): string {
  return path.join(layersDir, String(index));
}

/** A short name for a layer in messages and traces: "2:sha256:1a2b3c4d5e6f". */
export function layerLabel(rec: LayerRecord): string {
  return `${rec.index}:${rec.digest.slice(0, 19)}`;
}

export function readLayersRecord(layersDir: string): LayersRecord {
  const file = path.join(layersDir, RECORD_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new OcimountError('NOT_FOUND', `${layersDir} has no ${RECORD_FILE}: unpack an image into it first (ocimount unpack)`, {}, { cause: err });
  }
  const rec = JSON.parse(text) as LayersRecord;
  if (rec.version !== 1 || !Array.isArray(rec.layers)) {
    throw new OcimountError('CORRUPT', `${file} is not an ocimount layers record`);
  }
  return rec;
}

/** Written atomically (temp + rename) so a reader never sees half a record. */
export function writeLayersRecord(layersDir: string, rec: LayersRecord): void {
  const file = path.join(layersDir, RECORD_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n');
  fs.renameSync(tmp, file);
}
