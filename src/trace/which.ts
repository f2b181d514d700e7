// `ocimount which`: how one path resolves through the layers, without mounting.
// Uses the same overlay model as the FUSE server, on the same FsView.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { RECORD_FILE, readLayersRecord } from '../layers/record';
import { layerDescs } from '../mount/lowers';
import type { MountSpec } from '../mount/spec';
import { diskView } from '../mount/view';
import { LayerStack, S_IFMT, splitRel, type Hit, type StatLike } from '../overlay';

export interface WhichRow {
  /** Position in the stack, 0 = top (the upper dir when there is one); `label` names the image layer. */
  layer: number;
  label: string;
  /** What this layer holds at the path. */
  holds: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'whiteout' | 'nothing';
  size?: number;
  /** The part it plays in the merged view. */
  role: 'answers' | 'merged' | 'hidden' | 'whiteout' | 'none';
}

export interface WhichResult {
  path: string;
  found: boolean;
  error?: 'ENOENT' | 'ENOTDIR';
  answer?: { layer: number; label: string; type: string; mode: number; uid: number; gid: number; size: number };
  rows: WhichRow[];
  /** Whiteouts and opaque directories met on the way, in the order met. */
  hits: Array<Hit & { label: string }>;
}

function typeName(st: StatLike, ovType?: number): WhichRow['holds'] {
  switch ((ovType ?? st.mode) & S_IFMT) {
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char';
    case 0o060000: return 'block';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return 'file';
  }
}

/** Resolves `p` (absolute inside the image, e.g. /app/version.txt) through the spec's layers. */
export function which(spec: Pick<MountSpec, 'lowerdirs' | 'layersDir' | 'upper' | 'readOnly'>, p: string): WhichResult {
  if (process.getuid!() !== 0 && spec.layersDir && fs.existsSync(path.join(spec.layersDir, RECORD_FILE))) {
    const rec = readLayersRecord(spec.layersDir);
    // The same blind spot a FUSE mount refuses: trusted.* opaque marks are unreadable without CAP_SYS_ADMIN.
    if (rec.format === 'overlay' && !rec.userxattr) {
      throw new OcimountError('PERMISSION', `${spec.layersDir} marks opaque directories with trusted.overlay.opaque, which uid ${process.getuid!()} cannot read: run this as root`);
    }
  }
  const full = { backend: 'fuse' as const, target: '/', ...spec, readOnly: spec.readOnly ?? !spec.upper };
  const stack = new LayerStack(layerDescs(full), diskView(), { upperOverride: true });
  const rel = p.split('/').filter((c) => c && c !== '.').join('/');
  if (rel.split('/').includes('..')) throw new OcimountError('USAGE', `path ${p} must not contain ..`);
  const hits: Hit[] = [];
  const r = stack.lookup(rel, hits);
  const [dir, name] = splitRel(rel);
  const rows: WhichRow[] = stack.layers.map((l, i) => {
    const row: WhichRow = { layer: i, label: l.label, holds: 'nothing', role: 'none' };
    if (rel === '') {
      const st = stack.view.lstat(l.root);
      if (st) row.holds = 'dir';
    } else {
      const e = stack.entryIn(i, dir, name);
      if (e.entry) {
        row.holds = typeName(e.entry.st, e.entry.ov?.type);
        if (row.holds === 'file') row.size = e.entry.st.size;
      } else if (e.whiteout) row.holds = 'whiteout';
    }
    if (typeof r !== 'string') {
      if (i === r.layer) row.role = 'answers';
      else if (r.dirLayers?.includes(i)) row.role = 'merged';
      else if (row.holds === 'whiteout' && hits.some((h) => h.kind === 'whiteout' && h.layer === i && h.rel === rel)) row.role = 'whiteout';
      else if (row.holds !== 'nothing') row.role = 'hidden';
    } else if (row.holds === 'whiteout') row.role = 'whiteout';
    else if (row.holds !== 'nothing') row.role = 'hidden';
    return row;
  });
  const out: WhichResult = { path: '/' + rel, found: typeof r !== 'string', rows, hits: hits.map((h) => ({ ...h, label: stack.layers[h.layer].label })) };
  if (typeof r === 'string') out.error = r;
  else {
    const st = r.entry.st;
    const ov = r.entry.ov;
    out.answer = {
      layer: r.layer,
      label: stack.layers[r.layer].label,
      type: typeName(st, ov?.type),
      mode: ov ? ov.perm : st.mode & 0o7777,
      uid: ov?.uid ?? st.uid,
      gid: ov?.gid ?? st.gid,
      size: st.size,
    };
  }
  return out;
}

/** Human-readable report of a which() result. */
export function formatWhich(w: WhichResult): string {
  const lines: string[] = [];
  if (w.answer) {
    const a = w.answer;
    lines.push(`${w.path}: ${a.type}${a.type === 'file' ? `, ${a.size} bytes` : ''}, mode ${a.mode.toString(8).padStart(4, '0')}, owner ${a.uid}:${a.gid}, from ${a.label === 'upper' ? 'the upper dir' : `layer ${a.label}`}`);
  } else {
    lines.push(`${w.path}: ${w.error === 'ENOTDIR' ? 'not found (a parent is not a directory)' : 'not found'}`);
  }
  const width = Math.max(...w.rows.map((r) => r.label.length));
  for (const r of w.rows) {
    const what = r.holds === 'nothing' ? '-' : r.size !== undefined ? `${r.holds} (${r.size} bytes)` : r.holds;
    const role = r.role === 'none' ? '' : r.role === 'hidden' ? 'hidden by a layer above' : r.role;
    lines.push(`  ${r.label.padEnd(width)}  ${what.padEnd(18)} ${role}`.trimEnd());
  }
  for (const h of w.hits) {
    lines.push(h.kind === 'whiteout' ? `  whiteout in ${h.label} hides /${h.rel} in the layers below` : `  opaque directory /${h.rel} in ${h.label} stops the descent`);
  }
  return lines.join('\n') + '\n';
}
