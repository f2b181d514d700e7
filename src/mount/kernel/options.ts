// Builds overlayfs mount options from a MountSpec: pure, so the page limit and
// the relative-path fallback can be tested without mounting anything.
import * as path from 'node:path';
import { OcimountError } from '../../errors';
import type { MountSpec } from '../spec';

/** fs/overlayfs: OVL_MAX_STACK, the most lower layers one overlay mount takes. */
export const MAX_LOWER_LAYERS = 500;
/** mount(2) copies its data argument into one page, NUL included. */
export const LEGACY_DATA_MAX = 4095;

export interface LegacyData {
  /** The option string for mount(2). */
  data: string;
  /** When set, paths in `data` are relative to this directory: chdir there before mount(2). */
  cwd?: string;
}

/** Overlay's legacy syntax splits on ',' (options) and ':' (layers); '\' escapes ':' . */
function escapeLayer(p: string): string {
  if (p.includes(',')) {
    throw new OcimountError('USAGE', `the kernel overlay's mount options cannot name a path containing ',': ${p}`);
  }
  return p.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

function optionString(spec: MountSpec, rel: (p: string) => string): string {
  const parts = [`lowerdir=${spec.lowerdirs.map((d) => escapeLayer(rel(d))).join(':')}`];
  if (spec.upper && !spec.readOnly) {
    parts.push(`upperdir=${escapeLayer(rel(spec.upper))}`);
    parts.push(`workdir=${escapeLayer(rel(spec.work!))}`);
  }
  if (spec.userxattr) parts.push('userxattr');
  return parts.join(',');
}

/** The deepest directory containing every path (all absolute). */
export function commonParent(paths: string[]): string {
  let parts = path.resolve(paths[0]).split(path.sep);
  for (const p of paths.slice(1)) {
    const q = path.resolve(p).split(path.sep);
    let i = 0;
    while (i < parts.length && i < q.length && parts[i] === q[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(path.sep) || path.sep;
}

/**
 * The mount(2) data string. Absolute paths when they fit in a page; otherwise paths
 * relative to the layers' common parent (the caller chdirs there, as containerd does);
 * a LIMIT error when even that is too long.
 */
export function legacyData(spec: MountSpec): LegacyData {
  checkLayerCount(spec);
  const abs = optionString(spec, (p) => p);
  if (abs.length <= LEGACY_DATA_MAX) return { data: abs };
  const all = [...spec.lowerdirs, ...(spec.upper && !spec.readOnly ? [spec.upper, spec.work!] : [])];
  const cwd = commonParent(all);
  const rel = optionString(spec, (p) => path.relative(cwd, p) || '.');
  if (rel.length <= LEGACY_DATA_MAX) return { data: rel, cwd };
  throw new OcimountError(
    'LIMIT',
    `the kernel overlay's mount options for ${spec.lowerdirs.length} layers take ${rel.length} bytes even with relative paths, ` +
      `more than mount(2)'s one page (${LEGACY_DATA_MAX}); this kernel lacks the new mount API's lowerdir+ (Linux 6.8+): ` +
      `use fewer layers, shorter paths, or the FUSE mount (drop --kernel)`,
    { bytes: rel.length, layers: spec.lowerdirs.length },
  );
}

export function checkLayerCount(spec: MountSpec): void {
  if (spec.lowerdirs.length === 0) throw new OcimountError('USAGE', 'an overlay mount needs at least one lower layer');
  if (spec.lowerdirs.length > MAX_LOWER_LAYERS) {
    throw new OcimountError(
      'LIMIT',
      `the image has ${spec.lowerdirs.length} layers, more than the kernel overlayfs limit of ${MAX_LOWER_LAYERS} lower layers: ` +
        `mount it with FUSE (drop --kernel), which has no such limit`,
      { layers: spec.lowerdirs.length, max: MAX_LOWER_LAYERS },
    );
  }
}
