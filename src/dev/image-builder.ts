// Builds images in code and writes them as an OCI image layout: the fixtures for
// tests, benchmarks and the demo (the scenario's mini-web:v1 among them).
// It writes plain files; src/layout/ is the verified, atomic writer used by pull.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { MediaType, REF_NAME_ANNOTATION } from '../image/types';
import type { Compression, Descriptor, ImageConfig, Index, Manifest, Platform } from '../image/types';
import { tarBuffer } from './tar';
import type { TarEntry, TarOptions } from './tar';

export interface LayerSpec {
  /** Entries of the layer's tar; or give `tar` directly. */
  entries?: TarEntry[];
  /** A ready tar archive (uncompressed). */
  tar?: Buffer;
  tarOptions?: TarOptions;
  compression?: Compression;
  /** Override the layer media type (e.g. a nondistributable or unknown one). */
  mediaType?: string;
  /** Gzip only: split the stream into this many gzip members. */
  gzipMembers?: number;
}

export interface ImageSpec {
  layers: LayerSpec[];
  /** 'docker' writes schema2 media types (manifest, config, layers). */
  mediaTypes?: 'oci' | 'docker';
  config?: ImageConfig['config'];
  platform?: Platform;
  created?: string;
}

export interface WrittenImage {
  manifestDigest: string;
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  configDigest: string;
  config: ImageConfig;
  /** Uncompressed tar of each layer, base first (what unpack should reproduce). */
  layerTars: Buffer[];
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

function compress(tar: Buffer, spec: LayerSpec): Buffer {
  const c = spec.compression ?? 'gzip';
  if (c === 'none') return tar;
  if (c === 'zstd') {
    // Loaded lazily: only fixtures with zstd layers need the native binding.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const zstd = require('zstd-napi') as { compress(b: Buffer): Buffer };
    return zstd.compress(tar);
  }
  const members = Math.max(1, spec.gzipMembers ?? 1);
  if (members === 1) return zlib.gzipSync(tar);
  const step = Math.ceil(tar.length / members);
  const parts: Buffer[] = [];
  for (let off = 0; off < tar.length; off += step) parts.push(zlib.gzipSync(tar.subarray(off, off + step)));
  return Buffer.concat(parts);
}

function layerMediaType(spec: LayerSpec, docker: boolean): string {
  if (spec.mediaType) return spec.mediaType;
  const c = spec.compression ?? 'gzip';
  if (docker) {
    if (c === 'gzip') return MediaType.DockerLayerGzip;
    if (c === 'zstd') return MediaType.DockerLayerZstd;
    return 'application/vnd.docker.image.rootfs.diff.tar';
  }
  if (c === 'gzip') return MediaType.OciLayerGzip;
  if (c === 'zstd') return MediaType.OciLayerZstd;
  return MediaType.OciLayer;
}

function writeBlob(layoutDir: string, data: Buffer | string): string {
  const digest = sha256(data);
  const dir = path.join(layoutDir, 'blobs', 'sha256');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, digest.slice(7)), data);
  return digest;
}

function initLayout(layoutDir: string): void {
  fs.mkdirSync(path.join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (!fs.existsSync(path.join(layoutDir, 'index.json'))) {
    const idx: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    fs.writeFileSync(path.join(layoutDir, 'index.json'), JSON.stringify(idx));
  }
}

/** Adds (or replaces, by tag) a descriptor in the layout's index.json. */
function tagInIndex(layoutDir: string, desc: Descriptor, tag: string | undefined): void {
  const file = path.join(layoutDir, 'index.json');
  const idx = JSON.parse(fs.readFileSync(file, 'utf8')) as Index;
  const entry: Descriptor = { ...desc };
  if (tag) entry.annotations = { ...(desc.annotations ?? {}), [REF_NAME_ANNOTATION]: tag };
  idx.manifests = idx.manifests.filter((d) => !tag || d.annotations?.[REF_NAME_ANNOTATION] !== tag);
  idx.manifests.push(entry);
  fs.writeFileSync(file, JSON.stringify(idx, null, 2));
}

/** Writes the image's blobs (layers, config, manifest) without touching index.json. */
export function writeImageBlobs(layoutDir: string, spec: ImageSpec): WrittenImage {
  initLayout(layoutDir);
  const docker = spec.mediaTypes === 'docker';
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerTars: Buffer[] = [];
  const layers: Descriptor[] = [];
  for (const l of spec.layers) {
    const tar = l.tar ?? tarBuffer(l.entries ?? [], l.tarOptions);
    layerTars.push(tar);
    const blob = compress(tar, l);
    layers.push({ mediaType: layerMediaType(l, docker), digest: writeBlob(layoutDir, blob), size: blob.length });
  }
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: spec.created ?? '2024-01-01T00:00:00Z',
    config: spec.config ?? { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layerTars.map((t) => sha256(t)) },
    history: layerTars.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `ocimount fixture layer ${i}` })),
  };
  const configJson = JSON.stringify(config);
  const configDesc: Descriptor = {
    mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig,
    digest: writeBlob(layoutDir, configJson),
    size: Buffer.byteLength(configJson),
  };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: configDesc,
    layers,
  };
  const manifestJson = JSON.stringify(manifest);
  const manifestDigest = writeBlob(layoutDir, manifestJson);
  return {
    manifestDigest,
    manifestDescriptor: { mediaType: manifest.mediaType!, digest: manifestDigest, size: Buffer.byteLength(manifestJson) },
    manifest,
    configDigest: configDesc.digest,
    config,
    layerTars,
  };
}

/** Writes one single-platform image into an OCI layout, tagged in index.json. */
export function writeImage(layoutDir: string, spec: ImageSpec, opts: { tag?: string } = {}): WrittenImage {
  const img = writeImageBlobs(layoutDir, spec);
  tagInIndex(layoutDir, img.manifestDescriptor, opts.tag);
  return img;
}

export interface WrittenIndex {
  indexDigest: string;
  indexDescriptor: Descriptor;
  images: WrittenImage[];
}

/** Writes a multi-platform image: one manifest per platform under an image index. */
export function writeIndexImage(
  layoutDir: string,
  images: { spec: ImageSpec; platform: Platform }[],
  opts: { tag?: string; mediaTypes?: 'oci' | 'docker' } = {},
): WrittenIndex {
  const docker = opts.mediaTypes === 'docker';
  const written = images.map(({ spec, platform }) => writeImageBlobs(layoutDir, { ...spec, platform, mediaTypes: opts.mediaTypes ?? spec.mediaTypes }));
  const index: Index = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifestList : MediaType.OciIndex,
    manifests: written.map((w, i) => ({ ...w.manifestDescriptor, platform: images[i].platform })),
  };
  const json = JSON.stringify(index);
  const indexDigest = writeBlob(layoutDir, json);
  const indexDescriptor: Descriptor = { mediaType: index.mediaType!, digest: indexDigest, size: Buffer.byteLength(json) };
  tagInIndex(layoutDir, indexDescriptor, opts.tag);
  return { indexDigest, indexDescriptor, images: written };
}

const d = (p: string): TarEntry => ({ type: 'dir', path: p, mode: 0o755 });
const f = (p: string, content: string, mode = 0o644): TarEntry => ({ type: 'file', path: p, content, mode });

/** The scenario's image (shared/seed): registry.iximiuz.com/mini-web:v1, rebuilt to its spec. */
export function miniWeb(compression: Compression = 'gzip'): ImageSpec {
  const osRelease = [
    'NAME="Mini Linux"',
    'ID=mini',
    'VERSION_ID=1.0',
    'PRETTY_NAME="Mini Linux 1.0 (ocimount fixture)"',
    '',
  ].join('\n');
  return {
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['python3', '/app/server.py'],
      WorkingDir: '/app',
      ExposedPorts: { '8080/tcp': {} },
    },
    layers: [
      {
        compression,
        entries: [d('bin/'), d('etc/'), f('etc/os-release', osRelease), d('home/'), { ...d('root/'), mode: 0o700 }, { ...d('tmp/'), mode: 0o1777 }, d('usr/'), d('var/')],
      },
      {
        compression,
        entries: [
          d('app/'),
          f(
            'app/server.py',
            [
              'import http.server, json, pathlib',
              '',
              'cfg = json.loads(pathlib.Path("/app/config.json").read_text())',
              'version = pathlib.Path("/app/version.txt").read_text().strip()',
              '',
              'class H(http.server.BaseHTTPRequestHandler):',
              '    def do_GET(self):',
              '        body = f"{cfg[\'greeting\']} (v{version})\\n".encode()',
              '        self.send_response(200)',
              '        self.end_headers()',
              '        self.wfile.write(body)',
              '',
              'http.server.HTTPServer(("", cfg["port"]), H).serve_forever()',
              '',
            ].join('\n'),
            0o755,
          ),
          f('app/config.json', JSON.stringify({ port: 8080, greeting: 'Hello from mini-web', debug: true }, null, 2) + '\n'),
          f('app/version.txt', '1.0.0\n'),
        ],
      },
      {
        compression,
        entries: [
          d('app/'),
          f('app/config.json', JSON.stringify({ port: 8080, greeting: 'Hello from mini-web', debug: false, workers: 2 }, null, 2) + '\n'),
          f('app/version.txt', '1.0.1\n'),
        ],
      },
    ],
  };
}

/** What the scenario's questions expect of a mounted mini-web:v1. */
export const MINI_WEB_ANSWERS = {
  topLevel: ['app', 'bin', 'etc', 'home', 'root', 'tmp', 'usr', 'var'],
  version: '1.0.1',
  layerFiles: [
    ['bin', 'etc', 'home', 'root', 'tmp', 'usr', 'var'],
    ['app'],
    ['app'],
  ],
} as const;
