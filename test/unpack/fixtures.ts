// Shared fixtures for unpack tests: an image exercising every whiteout case,
// and "views" of a tree (path -> type, mode, owner, content) to compare trees
// made by different tools.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageSpec, LayerSpec } from '../../src/dev/image-builder';
import type { TarEntry } from '../../src/dev/tar';
import type { Compression } from '../../src/image/types';
import { OVERRIDE_STAT_XATTR, parseOverrideStat } from '../../src/fsops/override-stat';
import { native } from '../../src/native';

const d = (p: string, mode = 0o755, extra: Partial<TarEntry> = {}): TarEntry => ({ type: 'dir', path: p, mode, ...extra });
const f = (p: string, content: string, mode = 0o644, extra: Partial<TarEntry> = {}): TarEntry => ({ type: 'file', path: p, content, mode, ...extra });
const wh = (p: string): TarEntry => ({ type: 'file', path: p, content: '', mode: 0o644 });

/** Three layers covering every whiteout and replacement case of the image spec. */
export function whiteoutImage(compression: Compression = 'gzip'): ImageSpec {
  const l0: TarEntry[] = [
    d('a/'),
    f('a/x', 'x0'),
    f('a/y', 'y0'),
    f('gone.txt', 'to be deleted'),
    d('dir/'),
    f('dir/old', 'hidden by opaque'),
    d('dir/olddir/'),
    f('dir/olddir/deep', 'hidden too'),
    f('f2d', 'file becomes dir'),
    d('d2f/'),
    f('d2f/child', 'dir becomes file'),
    f('readd.txt', 'old content'),
    d('d3/'),
    f('d3/oldchild', 'hidden by the whiteout of d3'),
    d('bin/'),
    f('bin/tool', '#!/bin/sh\n', 0o4755, { uid: 0, gid: 0 }),
    { type: 'hardlink', path: 'bin/tool-link', linkname: 'bin/tool' },
    { type: 'symlink', path: 'bin/sh', linkname: '/bin/busybox' },
    d('dev/'),
    { type: 'char', path: 'dev/null', devmajor: 1, devminor: 3, mode: 0o666 },
    { type: 'fifo', path: 'dev/fifo', mode: 0o600 },
    d('ro/', 0o555, { uid: 1000, gid: 1000 }),
    f('ro/secret', 'nobody may read me', 0o000, { uid: 1000, gid: 1000 }),
    d('tmp/', 0o1777),
    f('xattr-file', 'x', 0o644, { xattrs: { 'user.comment': 'kept' } }),
  ];
  const l1: TarEntry[] = [
    wh('.wh.gone.txt'),
    d('a/'),
    wh('a/.wh.x'),
    d('dir/'),
    f('dir/new', 'only child now'),
    wh('dir/.wh..wh..opq'),
    d('f2d/'),
    f('f2d/child', 'now under a dir'),
    f('d2f', 'now a file'),
    wh('.wh.readd.txt'),
    wh('.wh.d3'),
    f('late/sub/f', 'file before its parent dir'),
    d('late/', 0o750),
    d('late/sub/', 0o700),
  ];
  const l2: TarEntry[] = [
    f('readd.txt', 're-added'),
    d('d3/'),
    f('d3/newchild', 'new'),
    f('dup', 'first'),
    f('dup', 'second wins'),
  ];
  const layer = (entries: TarEntry[]): LayerSpec => ({ entries, compression });
  return { layers: [layer(l0), layer(l1), layer(l2)] };
}

/** What the merged tree of whiteoutImage() must contain (regular files and their content). */
export const WHITEOUT_IMAGE_FILES: Record<string, string> = {
  'a/y': 'y0',
  'dir/new': 'only child now',
  'f2d/child': 'now under a dir',
  d2f: 'now a file',
  'readd.txt': 're-added',
  'd3/newchild': 'new',
  'bin/tool': '#!/bin/sh\n',
  'bin/tool-link': '#!/bin/sh\n',
  'late/sub/f': 'file before its parent dir',
  'ro/secret': 'nobody may read me',
  'xattr-file': 'x',
  dup: 'second wins',
};

export type View = Map<string, string>;

/** path -> "type mode uid:gid detail" for every node under root (root excluded), never following links. */
export function viewOf(root: string, opts: { skip?: (rel: string) => boolean; modeFromRecord?: boolean } = {}): View {
  const out: View = new Map();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (opts.skip?.(r)) continue;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      let m = st.mode & 0o7777;
      if (opts.modeFromRecord && (st.isFile() || st.isDirectory())) {
        // rootless: the image's mode is in the override_stat record, not on disk
        try {
          m = parseOverrideStat(native().lgetxattr(p, OVERRIDE_STAT_XATTR)).mode;
        } catch {
          /* no record */
        }
      }
      const mode = m.toString(8).padStart(4, '0');
      let type = 'file';
      let detail = '';
      if (st.isDirectory()) type = 'dir';
      else if (st.isSymbolicLink()) {
        type = 'symlink';
        detail = fs.readlinkSync(p);
      } else if (st.isCharacterDevice()) {
        type = 'char';
        detail = String(st.rdev);
      } else if (st.isBlockDevice()) {
        type = 'block';
        detail = String(st.rdev);
      } else if (st.isFIFO()) type = 'fifo';
      else detail = createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
      out.set(r, `${type} ${type === 'symlink' ? '' : mode} ${st.uid}:${st.gid} ${detail}`.replace(/\s+/g, ' ').trim());
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

/** Applies OCI-format layer dirs (whiteout files kept) in order: the image-spec's "applying changesets". */
export function mergeOciLayers(layerDirs: string[], opts: { modeFromRecord?: boolean } = {}): View {
  let merged: View = new Map();
  const dropUnder = (prefix: string): void => {
    for (const k of [...merged.keys()]) if (prefix === '' || k.startsWith(prefix + '/')) merged.delete(k);
  };
  for (const dir of layerDirs) {
    const layer = viewOf(dir, opts);
    const base = (r: string): string => r.slice(r.lastIndexOf('/') + 1);
    const parent = (r: string): string => (r.includes('/') ? r.slice(0, r.lastIndexOf('/')) : '');
    // Whiteouts and opaque markers hide lower layers only, so they go first.
    for (const r of layer.keys()) if (base(r) === '.wh..wh..opq') dropUnder(parent(r));
    for (const r of layer.keys()) {
      const b = base(r);
      if (b.startsWith('.wh.') && b !== '.wh..wh..opq') {
        const t = (parent(r) ? parent(r) + '/' : '') + b.slice(4);
        merged.delete(t);
        dropUnder(t);
      }
    }
    for (const [r, v] of layer) {
      if (base(r).startsWith('.wh.')) continue;
      if (!v.startsWith('dir ')) dropUnder(r);
      merged.set(r, v);
    }
    merged = new Map([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return merged;
}

export function viewLines(v: View): string[] {
  return [...v].map(([k, s]) => `${k}: ${s}`).sort();
}
