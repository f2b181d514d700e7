// The layer stack: per-layer directory listings (lower layers indexed once,
// since they never change), top-down lookup with whiteouts and opaque
// directories, readdir merge and the copy-up plan. Pure: all disk access goes
// through the injected FsView, so the same answers serve FUSE, --trace and `which`.
import { OVERRIDE_XATTR, parseOverride, type StatOverride } from './override';
import { isDir, type FsView, type LayerDesc, type StatLike } from './types';
import { OPAQUE_MARKER, OPAQUE_XATTRS, WH_PREFIX, isCharWhiteout, isMarkerName, isOpaqueValue, whiteoutTarget } from './whiteout';

export interface LayerEntry {
  st: StatLike;
  /** Ownership/mode/device recorded by a rootless unpack, when present. */
  ov?: StatOverride;
}

/** One directory of one layer, as the overlay sees it. */
export interface DirListing {
  /** Visible names: whiteouts and markers removed. */
  entries: Map<string, LayerEntry>;
  /** Names this directory hides in the layers below it. */
  whiteouts: Set<string>;
  /** Layers below do not contribute to this directory. */
  opaque: boolean;
}

/** A name found in the merged view. Layer indexes count from the top (0 = upper when there is one). */
export interface Resolved {
  /** Path relative to the root: '' for the root, 'a/b' below it. */
  rel: string;
  /** The layer whose entry answers. */
  layer: number;
  entry: LayerEntry;
  /** For directories: the layers that contribute to the merged listing, top first. */
  dirLayers?: number[];
  /** The stat the entry's inode number comes from: a directory's bottom-most part, else the winner. */
  origin: StatLike;
}

export type Hit = { kind: 'whiteout' | 'opaque'; layer: number; rel: string };
export type LookupResult = Resolved | 'ENOENT' | 'ENOTDIR';

export interface MergedEntry {
  name: string;
  layer: number;
  entry: LayerEntry;
}

export interface CopyUpPlan {
  /** Directories to create in upper, parents first (each is a merged dir without an upper part). */
  dirs: Resolved[];
  /** The entry itself, when it lives in a lower layer. */
  self?: Resolved;
}

export interface StackOptions {
  /** Read override_stat for upper entries too (rootless mounts record chown there). */
  upperOverride?: boolean;
}

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export function splitRel(rel: string): [string, string] {
  const i = rel.lastIndexOf('/');
  return i < 0 ? ['', rel] : [rel.slice(0, i), rel.slice(i + 1)];
}

/** '/a/b' (FUSE) -> 'a/b'; '/' -> ''. */
export function relOf(fusePath: string): string {
  return fusePath.length <= 1 ? '' : fusePath.slice(1);
}

function readOverride(view: FsView, abs: string, names?: string[]): StatOverride | undefined {
  const list = names ?? view.listxattr(abs);
  if (!list.includes(OVERRIDE_XATTR)) return undefined;
  const v = view.getxattr(abs, OVERRIDE_XATTR);
  return v ? parseOverride(v) : undefined;
}

function dirIsOpaqueByXattr(view: FsView, abs: string, names: string[]): boolean {
  for (const x of OPAQUE_XATTRS) if (names.includes(x) && isOpaqueValue(view.getxattr(abs, x))) return true;
  return false;
}

export class LayerStack {
  readonly layers: LayerDesc[];
  readonly view: FsView;
  readonly hasUpper: boolean;
  private readonly upperOverride: boolean;
  /** Listings of immutable layers, built on first use and kept. */
  private readonly index: Array<Map<string, DirListing | null>>;
  /** Merged-directory structure (not stats), cleared whenever upper's directory tree changes. */
  private readonly dirCache = new Map<string, Resolved>();
  private readonly upperOpaque = new Map<string, boolean>();

  /** layers: top first; a mutable first layer is the upper dir. */
  constructor(layers: LayerDesc[], view: FsView, opts: StackOptions = {}) {
    if (layers.length === 0) throw new Error('an overlay needs at least one layer');
    this.layers = layers;
    this.view = view;
    this.hasUpper = !layers[0].immutable;
    this.upperOverride = opts.upperOverride ?? false;
    this.index = layers.map(() => new Map());
  }

  abs(layer: number, rel: string): string {
    const root = this.layers[layer].root;
    return rel === '' ? root : `${root}/${rel}`;
  }

  /** The listing of one directory of one layer; undefined when the layer has no such directory. */
  listing(layer: number, rel: string): DirListing | undefined {
    const desc = this.layers[layer];
    if (desc.immutable) {
      const idx = this.index[layer];
      const cached = idx.get(rel);
      if (cached !== undefined) return cached ?? undefined;
      const built = this.buildListing(layer, rel, true);
      idx.set(rel, built ?? null);
      return built;
    }
    return this.buildListing(layer, rel, this.upperOverride);
  }

  private buildListing(layer: number, rel: string, withOverride: boolean): DirListing | undefined {
    const dir = this.abs(layer, rel);
    const names = this.view.readdir(dir);
    if (!names) return undefined;
    const out: DirListing = { entries: new Map(), whiteouts: new Set(), opaque: false };
    for (const name of names) {
      if (name === OPAQUE_MARKER) {
        out.opaque = true;
        continue;
      }
      const target = whiteoutTarget(name);
      if (target !== undefined) {
        out.whiteouts.add(target);
        continue;
      }
      if (isMarkerName(name)) continue;
      const p = `${dir}/${name}`;
      const st = this.view.lstat(p);
      if (!st) continue;
      if (isCharWhiteout(st)) {
        out.whiteouts.add(name);
        continue;
      }
      const ov = withOverride ? readOverride(this.view, p) : undefined;
      out.entries.set(name, ov ? { st, ov } : { st });
    }
    if (!out.opaque) out.opaque = dirIsOpaqueByXattr(this.view, dir, this.view.listxattr(dir));
    return out;
  }

  /** One name in one directory of one layer: its entry, and whether the layer hides it below. */
  entryIn(layer: number, dirRel: string, name: string): { entry?: LayerEntry; whiteout: boolean } {
    if (this.layers[layer].immutable) {
      const l = this.listing(layer, dirRel);
      if (!l) return { whiteout: false };
      return { entry: l.entries.get(name), whiteout: l.whiteouts.has(name) };
    }
    if (isMarkerName(name)) return { whiteout: false };
    const dir = this.abs(layer, dirRel);
    const p = `${dir}/${name}`;
    const st = this.view.lstat(p);
    if (st) {
      if (isCharWhiteout(st)) return { whiteout: true };
      const ov = this.upperOverride ? readOverride(this.view, p) : undefined;
      return { entry: ov ? { st, ov } : { st }, whiteout: false };
    }
    return { whiteout: this.view.lstat(`${dir}/${WH_PREFIX}${name}`) !== undefined };
  }

  /** Whether a directory of one layer is opaque (stops the layers below it). */
  opaqueIn(layer: number, rel: string): boolean {
    if (this.layers[layer].immutable) return this.listing(layer, rel)?.opaque ?? false;
    let v = this.upperOpaque.get(rel);
    if (v === undefined) {
      const dir = this.abs(layer, rel);
      v = this.view.lstat(`${dir}/${OPAQUE_MARKER}`) !== undefined || dirIsOpaqueByXattr(this.view, dir, this.view.listxattr(dir));
      this.upperOpaque.set(rel, v);
    }
    return v;
  }

  /** Moves on at every invalidate(), so caches built on top of the stack know when to drop their answers. */
  generation = 0;

  /** Forget cached facts about upper's directory tree (after mkdir, rmdir, rename, copy-up, whiteouts). */
  invalidate(): void {
    this.generation++;
    this.dirCache.clear();
    this.upperOpaque.clear();
  }

  root(hits?: Hit[]): Resolved {
    const cached = hits ? undefined : this.dirCache.get('');
    if (cached) return cached;
    const dirLayers: number[] = [];
    let first: { layer: number; entry: LayerEntry } | undefined;
    let origin: StatLike | undefined;
    for (let l = 0; l < this.layers.length; l++) {
      const st = this.view.lstat(this.layers[l].root);
      if (!st || !isDir(st)) continue;
      origin = st;
      if (!first) {
        const ov = this.layers[l].immutable || this.upperOverride ? readOverride(this.view, this.layers[l].root) : undefined;
        first = { layer: l, entry: ov ? { st, ov } : { st } };
      }
      dirLayers.push(l);
      if (this.opaqueIn(l, '')) {
        hits?.push({ kind: 'opaque', layer: l, rel: '' });
        break;
      }
    }
    if (!first) throw new Error(`no layer directory exists (top: ${this.layers[0].root})`);
    const r: Resolved = { rel: '', layer: first.layer, entry: first.entry, dirLayers, origin: origin! };
    if (!hits) this.dirCache.set('', r);
    return r;
  }

  /** Looks one name up in a resolved directory. */
  step(parent: Resolved, name: string, hits?: Hit[]): LookupResult {
    const dirLayers = parent.dirLayers;
    if (!dirLayers) return 'ENOTDIR';
    const rel = joinRel(parent.rel, name);
    let win: { layer: number; entry: LayerEntry } | undefined;
    let dirs: number[] | undefined;
    let origin: StatLike | undefined;
    for (const l of dirLayers) {
      const e = this.entryIn(l, parent.rel, name);
      if (e.entry) {
        const d = isDir(e.entry.st);
        if (!win || d) origin = e.entry.st;
        if (!win) {
          win = { layer: l, entry: e.entry };
          if (!d) break;
          dirs = [l];
        } else {
          // A directory hides every non-directory below it.
          if (!d) break;
          dirs!.push(l);
        }
        if (this.opaqueIn(l, rel)) {
          hits?.push({ kind: 'opaque', layer: l, rel });
          break;
        }
      }
      if (e.whiteout) {
        hits?.push({ kind: 'whiteout', layer: l, rel });
        break;
      }
    }
    if (!win) return 'ENOENT';
    return { rel, layer: win.layer, entry: win.entry, dirLayers: dirs, origin: origin! };
  }

  /** Resolves a relative path top-down ('' is the root). */
  lookup(rel: string, hits?: Hit[]): LookupResult {
    if (rel === '') return this.root(hits);
    if (!hits) {
      const c = this.dirCache.get(rel);
      if (c) return c;
    }
    const [dir, name] = splitRel(rel);
    const parent = this.lookup(dir, hits);
    if (typeof parent === 'string') return parent;
    const r = this.step(parent, name, hits);
    if (!hits && typeof r !== 'string' && r.dirLayers) this.dirCache.set(rel, r);
    return r;
  }

  /** The merged listing of a directory: each name once, from its top-most layer; whiteouts applied. */
  readdir(dir: Resolved): MergedEntry[] {
    const out: MergedEntry[] = [];
    const layers = dir.dirLayers ?? [];
    if (layers.length === 1) {
      const l = this.listing(layers[0], dir.rel);
      if (l) for (const [name, entry] of l.entries) out.push({ name, layer: layers[0], entry });
      return out;
    }
    const seen = new Set<string>();
    for (const layer of layers) {
      const l = this.listing(layer, dir.rel);
      if (!l) continue;
      for (const [name, entry] of l.entries) {
        if (seen.has(name)) continue;
        seen.add(name);
        out.push({ name, layer, entry });
      }
      for (const w of l.whiteouts) seen.add(w);
    }
    return out;
  }

  /** Whether any layer below `fromLayer` shows this name (then removing it needs a whiteout). */
  existsBelow(rel: string, fromLayer: number): boolean {
    if (rel === '') return false;
    const [dir, name] = splitRel(rel);
    const parent = this.lookup(dir);
    if (typeof parent === 'string' || !parent.dirLayers) return false;
    for (const l of parent.dirLayers) {
      if (l <= fromLayer) {
        if (l === fromLayer && this.entryIn(l, dir, name).whiteout) return false;
        continue;
      }
      const e = this.entryIn(l, dir, name);
      if (e.entry) return true;
      if (e.whiteout) return false;
    }
    return false;
  }

  /** What must be created in upper so that `rel` can be changed there. */
  copyUpPlan(rel: string): CopyUpPlan | 'ENOENT' | 'ENOTDIR' {
    if (!this.hasUpper) throw new Error('read-only overlay has no copy-up');
    const plan: CopyUpPlan = { dirs: [] };
    const parts = rel === '' ? [] : rel.split('/');
    let cur: Resolved = this.root();
    if (cur.layer !== 0) plan.dirs.push(cur);
    for (let i = 0; i < parts.length; i++) {
      const next = this.step(cur, parts[i]);
      if (typeof next === 'string') return next;
      const last = i === parts.length - 1;
      if (!last && !next.dirLayers) return 'ENOTDIR';
      // A directory has an upper part iff upper (layer 0) contributes to it.
      const inUpper = next.layer === 0;
      if (!inUpper) {
        if (last) plan.self = next;
        else plan.dirs.push(next);
      }
      cur = next;
    }
    return plan;
  }
}
