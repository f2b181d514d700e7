// `up`: image reference -> mounted root filesystem and runtime bundle, in one step:
//   store (shared OCI layout) <- pull;  DIR/layers/N <- unpack;
//   DIR/overlayfs/{upper,work} + DIR/rootfs <- mount (FUSE, or --kernel);
//   DIR/config.json <- runtimeConfig(image config).
// `down` undoes the mount, keeping upper unless purged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runtimeConfig } from './bundle';
import type { RuntimeConfig } from './bundle';
import { OcimountError } from './errors';
import type { ImageConfig } from './image/types';
import { RECORD_FILE, readLayersRecord } from './layers/record';
import type { LayersRecord, WhiteoutFormat } from './layers/record';
import type { LayerProgress } from './layers/unpack-layers';
import type { UnpackWarning } from './layers/warnings';
import { mountFuse } from './mount/fuse';
import { checkKernelMountAllowed, mountKernel } from './mount/kernel';
import { lowerdirsOf } from './mount/lowers';
import type { MountSpec } from './mount/spec';
import { mountAt, readMountState } from './mount/state';
import { unmount } from './mount/umount';
import { LOCAL_PREFIX, pullToStore } from './up/source';
import type { PullAuth } from './up/source';
import { storeDir } from './store';
import { unpack } from './unpack';
import { mkdirp } from './mkdirp';

export interface BundlePaths {
  dir: string;
  layers: string;
  upper: string;
  work: string;
  rootfs: string;
  config: string;
}

/** The scenario's layout of a bundle directory. */
export function bundlePaths(dir: string): BundlePaths {
  const d = path.resolve(dir);
  return {
    dir: d,
    layers: path.join(d, 'layers'),
    upper: path.join(d, 'overlayfs', 'upper'),
    work: path.join(d, 'overlayfs', 'work'),
    rootfs: path.join(d, 'rootfs'),
    config: path.join(d, 'config.json'),
  };
}

export interface UpOptions {
  /** Kernel overlayfs instead of FUSE (needs root). */
  kernel?: boolean;
  /** Shared content store (an OCI layout); default per storeDir(). */
  store?: string;
  platform?: string;
  /** Plain HTTP / unverified TLS for the registry. */
  insecure?: boolean;
  auth?: PullAuth;
  /** Whiteout format for unpack; default overlay as root (required by --kernel), oci otherwise. */
  format?: WhiteoutFormat;
  userxattr?: boolean;
  allowOther?: boolean;
  onStep?(msg: string): void;
  onProgress?(p: LayerProgress): void;
  onWarning?(w: UnpackWarning): void;
}

export interface UpResult {
  paths: BundlePaths;
  backend: 'fuse' | 'kernel';
  store: string;
  manifestDigest: string;
  layers: number;
  /** Layers already unpacked in DIR by an earlier run. */
  reusedLayers: number;
  spec: MountSpec;
  config: RuntimeConfig;
  /** FUSE: pid of the background server and its log. */
  server?: { pid: number; log: string };
}

/** Why DIR's rootfs counts as up: a live mount there, or a state file for one. */
function mountedDescription(rootfs: string): string | undefined {
  const m = mountAt(rootfs);
  if (m) return `${m.fstype} mount`;
  const st = readMountState(rootfs);
  if (st) return `a recorded ${st.backend} mount`;
  return undefined;
}

function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function readImageConfig(rec: LayersRecord): ImageConfig {
  const [alg, hex] = rec.source.configDigest.split(':');
  const file = path.join(rec.source.layout, 'blobs', alg, hex);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ImageConfig;
  } catch (err) {
    throw new OcimountError('NOT_FOUND', `image config ${rec.source.configDigest} is missing from ${rec.source.layout}`, {}, { cause: err });
  }
}

/** Refuses to stack one image's upper on another image's layers. */
function checkSameImage(paths: BundlePaths, manifestDigest: string): void {
  if (!fs.existsSync(path.join(paths.layers, RECORD_FILE))) return;
  const old = readLayersRecord(paths.layers);
  if (old.source.manifestDigest !== manifestDigest) {
    throw new OcimountError(
      'USAGE',
      `${paths.dir} already holds another image (${old.source.ref ?? old.source.manifestDigest}); ` +
        `run "ocimount down --purge ${paths.dir}" first, or choose another directory`,
      { dir: paths.dir, existing: old.source.manifestDigest },
    );
  }
}

/**
 * Pulls imageRef into the shared store, unpacks it into DIR/layers, mounts DIR/rootfs
 * and writes DIR/config.json. BUSY when DIR is already up. When the bundle config
 * cannot be made, the mount is undone so a failed `up` leaves nothing mounted.
 */
export async function up(imageRef: string, dir: string, opts: UpOptions = {}): Promise<UpResult> {
  const paths = bundlePaths(dir);
  const step = opts.onStep ?? (() => undefined);
  const already = mountedDescription(paths.rootfs);
  if (already) {
    throw new OcimountError('BUSY', `${paths.dir} is already up (${paths.rootfs} is already mounted: ${already}); run "ocimount down ${paths.dir}" first`, {
      dir: paths.dir,
    });
  }
  const backend = opts.kernel ? 'kernel' : 'fuse';
  // Say it before pulling and unpacking, which would be wasted (and leave a half bundle).
  if (opts.kernel) checkKernelMountAllowed();
  const store = storeDir(opts.store);

  step(imageRef.startsWith(LOCAL_PREFIX) ? `reading ${imageRef}` : `pulling ${imageRef} into ${store}`);
  const pulled = await pullToStore(imageRef, store, { platform: opts.platform, insecure: opts.insecure, auth: opts.auth });
  checkSameImage(paths, pulled.manifestDigest);

  step(`unpacking into ${paths.layers}`);
  mkdirp(paths.dir);
  // The kernel reads only the overlay format; FUSE reads either.
  const format = opts.format ?? (opts.kernel ? 'overlay' : undefined);
  const unpacked = await unpack(pulled.layoutRef, paths.layers, {
    platform: opts.platform,
    format,
    userxattr: opts.userxattr,
    onProgress: opts.onProgress,
    onWarning: opts.onWarning,
  });
  const rec = unpacked.record;

  const spec: MountSpec = {
    backend,
    target: paths.rootfs,
    lowerdirs: lowerdirsOf(paths.layers),
    upper: paths.upper,
    work: paths.work,
    layersDir: paths.layers,
    ...(opts.userxattr || rec.userxattr ? { userxattr: true } : {}),
    ...(opts.allowOther ? { allowOther: true } : {}),
  };
  for (const d of [spec.upper!, spec.work!, spec.target]) mkdirp(d);

  step(`mounting ${paths.rootfs} (${backend})`);
  let server: UpResult['server'];
  let mounted = spec;
  if (opts.kernel) {
    mounted = mountKernel(spec).spec;
  } else {
    const r = await mountFuse(spec);
    server = { pid: r.pid, log: r.log };
  }

  try {
    step(`writing ${paths.config}`);
    const config = runtimeConfig(readImageConfig(rec), {
      rootfs: 'rootfs',
      rootfsDir: paths.rootfs,
      annotations: {
        'org.opencontainers.image.ref.name': imageRef,
        'io.github.ocimount.image.manifest-digest': rec.source.manifestDigest,
        'io.github.ocimount.mount.backend': backend,
      },
    });
    writeFileAtomic(paths.config, JSON.stringify(config, null, 2) + '\n');
    return {
      paths,
      backend,
      store,
      manifestDigest: rec.source.manifestDigest,
      layers: rec.layers.length,
      reusedLayers: unpacked.skipped.length,
      spec: mounted,
      config,
      server,
    };
  } catch (err) {
    await unmount(paths.rootfs).catch(() => undefined);
    throw err;
  }
}

export interface DownOptions {
  /** Also remove DIR's layers, overlayfs (upper and work), rootfs and config.json. */
  purge?: boolean;
  /** Detach a busy mount now (umount -l). */
  lazy?: boolean;
}

export interface DownResult {
  paths: BundlePaths;
  /** Whether a mount was ended (false: DIR was already down). */
  unmounted: boolean;
  purged: boolean;
}

/** Removes a tree even when the image made some of its directories read-only to us. */
function removeTree(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
    return;
  } catch (err) {
    if (!['EACCES', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
  const walk = (d: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(d);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    try {
      fs.chmodSync(d, 0o700);
    } catch {
      // not ours: rmSync below reports it
    }
    for (const n of fs.readdirSync(d)) walk(path.join(d, n));
  };
  walk(p);
  fs.rmSync(p, { recursive: true, force: true });
}

/**
 * Unmounts DIR/rootfs (either backend) and, with purge, removes what `up` made in DIR.
 * Without purge, DIR/overlayfs/upper keeps every change made through the mount.
 * NOT_FOUND when DIR is not up and there is nothing to purge.
 */
export async function down(dir: string, opts: DownOptions = {}): Promise<DownResult> {
  const paths = bundlePaths(dir);
  let unmounted = false;
  if (mountedDescription(paths.rootfs)) {
    await unmount(paths.rootfs, { lazy: opts.lazy });
    unmounted = true;
  } else if (!opts.purge) {
    throw new OcimountError('NOT_FOUND', `${paths.dir} is not up (nothing is mounted on ${paths.rootfs})`, { dir: paths.dir });
  }
  if (opts.purge) {
    // Never delete through a live mount: that would reach into the layers and upper.
    if (mountAt(paths.rootfs)) throw new OcimountError('BUSY', `${paths.rootfs} is still mounted; not purging`, { dir: paths.dir });
    for (const p of [paths.config, paths.rootfs, path.join(paths.dir, 'overlayfs'), paths.layers]) removeTree(p);
  }
  return { paths, unmounted, purged: !!opts.purge };
}
