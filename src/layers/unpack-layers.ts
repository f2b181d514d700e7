// Every layer into its own directory, LAYERS_DIR/N, atomically and idempotently.
//
// Each layer extracts into a temporary sibling (LAYERS_DIR/.tmp-N-XXXXXX) and is
// renamed to N once verified; a marker (LAYERS_DIR/.layer-N.json) written after
// the rename names the diff_id and settings it was made with, so a finished
// layer is not extracted again and a half-finished one is redone. Leftovers of
// a killed run (.tmp-*) are removed at the start of the next run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { createFsOps, isPrivileged } from '../fsops';
import { applyLayer } from './apply';
import type { LayerSource } from './apply';
import { RECORD_FILE, layerDir, writeLayersRecord } from './record';
import type { LayerRecord, LayersRecord, WhiteoutFormat } from './record';
import type { UnpackWarning } from './warnings';
import { mkdirp } from '../mkdirp';

export interface LayerProgress {
  layer: number;
  digest: string;
  /** Compressed bytes read so far, and the blob size. */
  bytes: number;
  total: number;
  phase: 'start' | 'progress' | 'done' | 'skipped';
}

export interface UnpackLayersOptions {
  /** Where the layers came from, for layers.json. */
  source: LayersRecord['source'];
  /** Default: 'overlay' when privileged, 'oci' when not. */
  format?: WhiteoutFormat;
  /** overlay format: user.overlay.opaque instead of trusted.overlay.opaque (needed rootless). */
  userxattr?: boolean;
  /** Default: true unless running as root. */
  rootless?: boolean;
  /** Escalate unsafe-path warnings to UNSAFE_PATH errors. */
  strict?: boolean;
  onWarning?(w: UnpackWarning): void;
  onProgress?(p: LayerProgress): void;
}

export interface UnpackLayersResult {
  record: LayersRecord;
  /** Layer indexes extracted by this run, and those already present. */
  extracted: number[];
  skipped: number[];
  warnings: UnpackWarning[];
}

/** Marks LAYERS_DIR as ours, so an existing N there may be replaced. */
const OWNER_FILE = '.ocimount-layers';
const TMP_PREFIX = '.tmp-';

interface LayerMarker {
  diffId: string;
  digest: string;
  format: WhiteoutFormat;
  userxattr: boolean;
  rootless: boolean;
}

function markerPath(layersDir: string, i: number): string {
  return path.join(layersDir, `.layer-${i}.json`);
}

function readMarker(layersDir: string, i: number): LayerMarker | undefined {
  try {
    return JSON.parse(fs.readFileSync(markerPath(layersDir, i), 'utf8')) as LayerMarker;
  } catch {
    return undefined;
  }
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function sameMarker(a: LayerMarker | undefined, b: LayerMarker): boolean {
  return !!a && a.diffId === b.diffId && a.digest === b.digest && a.format === b.format && a.userxattr === b.userxattr && a.rootless === b.rootless;
}

/** Resolves defaults and refuses combinations that cannot work. */
export function resolveUnpackSettings(opts: { format?: WhiteoutFormat; userxattr?: boolean; rootless?: boolean }): {
  format: WhiteoutFormat;
  userxattr: boolean;
  rootless: boolean;
} {
  const rootless = opts.rootless ?? !isPrivileged();
  if (!rootless && !isPrivileged()) throw new OcimountError('PERMISSION', 'unpacking with real owners and devices needs root; drop --no-rootless');
  const format = opts.format ?? (rootless ? 'oci' : 'overlay');
  if (format !== 'overlay' && format !== 'oci') throw new OcimountError('USAGE', `unknown whiteout format "${String(format)}" (overlay or oci)`);
  const userxattr = opts.userxattr ?? false;
  if (format === 'overlay' && rootless && !userxattr && !isPrivileged()) {
    throw new OcimountError('USAGE', 'the overlay format without privileges needs --userxattr (trusted.overlay.* xattrs need root)');
  }
  return { format, userxattr, rootless };
}

/** Prepares LAYERS_DIR: creates it, checks it is ours, removes a killed run's leftovers. */
function prepareDir(layersDir: string): void {
  mkdirp(layersDir);
  const names = fs.readdirSync(layersDir);
  const ours = names.includes(OWNER_FILE) || names.includes(RECORD_FILE);
  if (!ours && names.length > 0) {
    throw new OcimountError('USAGE', `${layersDir} is not empty and was not made by ocimount unpack; choose an empty or new directory`, { layersDir });
  }
  if (!ours) fs.writeFileSync(path.join(layersDir, OWNER_FILE), 'LAYERS_DIR made by ocimount unpack\n');
  for (const n of names) {
    if (n.startsWith(TMP_PREFIX) || /\.tmp-\d+$/.test(n)) fs.rmSync(path.join(layersDir, n), { recursive: true, force: true });
  }
}

export async function unpackLayers(layers: LayerSource[], layersDir: string, opts: UnpackLayersOptions): Promise<UnpackLayersResult> {
  const settings = resolveUnpackSettings(opts);
  const fsops = createFsOps({ rootless: settings.rootless });
  const dir = path.resolve(layersDir);
  prepareDir(dir);
  const warnings: UnpackWarning[] = [];
  const onWarning = (w: UnpackWarning): void => {
    warnings.push(w);
    opts.onWarning?.(w);
  };
  const extracted: number[] = [];
  const skipped: number[] = [];
  const records: LayerRecord[] = [];

  for (let i = 0; i < layers.length; i++) {
    const src = layers[i];
    const d = src.descriptor;
    const want: LayerMarker = { diffId: src.diffId, digest: d.digest, ...settings };
    const target = layerDir(dir, i);
    records.push({ index: i, digest: d.digest, diffId: src.diffId, mediaType: d.mediaType, size: d.size });
    if (sameMarker(readMarker(dir, i), want) && fs.existsSync(target)) {
      skipped.push(i);
      opts.onProgress?.({ layer: i, digest: d.digest, bytes: d.size, total: d.size, phase: 'skipped' });
      continue;
    }
    // Whatever is at N is not this layer (another image, or a run killed before its marker).
    fs.rmSync(markerPath(dir, i), { force: true });
    fs.rmSync(target, { recursive: true, force: true });
    const tmp = fs.mkdtempSync(path.join(dir, `${TMP_PREFIX}${i}-`));
    opts.onProgress?.({ layer: i, digest: d.digest, bytes: 0, total: d.size, phase: 'start' });
    try {
      await applyLayer(src, tmp, {
        fsops,
        ...settings,
        layer: i,
        strict: opts.strict,
        onWarning,
        onBytes: (bytes) => opts.onProgress?.({ layer: i, digest: d.digest, bytes, total: d.size, phase: 'progress' }),
      });
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    writeAtomic(markerPath(dir, i), JSON.stringify(want) + '\n');
    extracted.push(i);
    opts.onProgress?.({ layer: i, digest: d.digest, bytes: d.size, total: d.size, phase: 'done' });
  }

  // Layers of a previous, taller image: ours (marked), so removed.
  for (let i = layers.length; readMarker(dir, i) || fs.existsSync(layerDir(dir, i)); i++) {
    if (!readMarker(dir, i)) break;
    fs.rmSync(layerDir(dir, i), { recursive: true, force: true });
    fs.rmSync(markerPath(dir, i), { force: true });
  }

  const record: LayersRecord = { version: 1, source: opts.source, format: settings.format, userxattr: settings.userxattr, rootless: settings.rootless, layers: records };
  writeLayersRecord(dir, record);
  return { record, extracted, skipped, warnings };
}
