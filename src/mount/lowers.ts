// Which directories make up a mount: LAYERS_DIR (layers.json, or numeric
// subdirectories) -> lowerdirs top first, and names for traces. Backend-neutral.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { RECORD_FILE, layerDir, layerLabel, readLayersRecord, type LayersRecord } from '../layers/record';
import type { LayerDesc } from '../overlay';
import type { MountSpec } from './spec';

/** Layer directories of LAYERS_DIR, top (highest index) first. */
export function lowerdirsOf(layersDir: string): string[] {
  const abs = path.resolve(layersDir);
  if (fs.existsSync(path.join(abs, RECORD_FILE))) {
    const rec = readLayersRecord(abs);
    return [...rec.layers].sort((a, b) => b.index - a.index).map((l) => layerDir(abs, l.index));
  }
  let names: string[];
  try {
    names = fs.readdirSync(abs);
  } catch (err) {
    throw new OcimountError('NOT_FOUND', `layers directory ${abs} cannot be read`, {}, { cause: err });
  }
  const nums = names.filter((n) => /^\d+$/.test(n) && fs.statSync(path.join(abs, n)).isDirectory()).map(Number);
  if (nums.length === 0) throw new OcimountError('NOT_FOUND', `${abs} has no layers (no ${RECORD_FILE} and no numbered subdirectories)`);
  return nums.sort((a, b) => b - a).map((n) => path.join(abs, String(n)));
}

function recordOf(layersDir: string | undefined): LayersRecord | undefined {
  if (!layersDir || !fs.existsSync(path.join(layersDir, RECORD_FILE))) return undefined;
  return readLayersRecord(layersDir);
}

/** The overlay model's layer list for a spec: upper (unless read-only) then lowers, top first. */
export function layerDescs(spec: MountSpec): LayerDesc[] {
  const rec = recordOf(spec.layersDir);
  const lowers: LayerDesc[] = spec.lowerdirs.map((dir, i) => {
    let label = path.basename(dir) || dir;
    if (spec.layersDir && path.dirname(dir) === path.resolve(spec.layersDir)) {
      const l = rec?.layers.find((x) => String(x.index) === path.basename(dir));
      if (l) label = layerLabel(l);
    } else if (!spec.layersDir) {
      label = `L${i}:${label}`;
    }
    return { root: dir, label, immutable: true };
  });
  if (spec.readOnly || !spec.upper) return lowers;
  return [{ root: spec.upper, label: 'upper', immutable: false }, ...lowers];
}

/** Whether the layers were unpacked without privileges (ownership recorded in xattrs). */
export function layersRootless(spec: MountSpec): boolean {
  return recordOf(spec.layersDir)?.rootless ?? false;
}

export interface MountRequest {
  /** LAYERS_DIR from an unpack (or numbered layer dirs). */
  layersDir?: string;
  /** Or overlayfs-style "top:...:base". */
  lowerdir?: string;
  target: string;
  upper?: string;
  work?: string;
  readOnly?: boolean;
  allowOther?: boolean;
  trace?: string;
  backend?: MountSpec['backend'];
}

/** A MountSpec from command-line style input: absolute paths, lowers top first. */
export function buildMountSpec(req: MountRequest): MountSpec {
  if (!!req.layersDir === !!req.lowerdir) throw new OcimountError('USAGE', 'give either LAYERS_DIR or --lowerdir, not both');
  const lowerdirs = req.lowerdir
    ? req.lowerdir.split(':').filter(Boolean).map((d) => path.resolve(d))
    : lowerdirsOf(req.layersDir!);
  if (lowerdirs.length === 0) throw new OcimountError('USAGE', '--lowerdir names no directories');
  if (req.readOnly && (req.upper || req.work)) throw new OcimountError('USAGE', '--read-only takes no --upper/--work');
  if (!req.readOnly && (!req.upper || !req.work)) throw new OcimountError('USAGE', 'a writable mount needs --upper DIR and --work DIR (or --read-only)');
  const spec: MountSpec = { backend: req.backend ?? 'fuse', target: path.resolve(req.target), lowerdirs };
  if (req.layersDir) spec.layersDir = path.resolve(req.layersDir);
  if (req.upper) spec.upper = path.resolve(req.upper);
  if (req.work) spec.work = path.resolve(req.work);
  if (req.readOnly) spec.readOnly = true;
  if (req.allowOther) spec.allowOther = true;
  if (req.trace !== undefined) spec.trace = req.trace === '' || req.trace === '-' ? '-' : path.resolve(req.trace);
  if (req.layersDir && fs.existsSync(path.join(req.layersDir, RECORD_FILE)) && readLayersRecord(req.layersDir).userxattr) spec.userxattr = true;
  return spec;
}
