// On-disk layer fixtures for kernel tests: LAYERS_DIR/N plus layers.json, built directly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeLayersRecord } from '../../src/layers/record';
import type { WhiteoutFormat } from '../../src/layers/record';

export type FileTree = Record<string, string | null>; // null = empty directory

export function writeLayers(layersDir: string, layers: FileTree[], opts: { format?: WhiteoutFormat; userxattr?: boolean } = {}): string[] {
  fs.mkdirSync(layersDir, { recursive: true });
  const dirs = layers.map((tree, i) => {
    const d = path.join(layersDir, String(i));
    fs.mkdirSync(d, { recursive: true });
    for (const [p, content] of Object.entries(tree)) {
      const full = path.join(d, p);
      if (content === null) fs.mkdirSync(full, { recursive: true });
      else {
        fs.mkdirSync(path.dirname(full), { recursive: true });
        fs.writeFileSync(full, content);
      }
    }
    return d;
  });
  writeLayersRecord(layersDir, {
    version: 1,
    source: { layout: '/nonexistent', manifestDigest: 'sha256:' + '0'.repeat(64), configDigest: 'sha256:' + '1'.repeat(64) },
    format: opts.format ?? 'overlay',
    userxattr: opts.userxattr ?? false,
    rootless: false,
    layers: layers.map((_, i) => ({ index: i, digest: `sha256:${String(i).padStart(64, '0')}`, diffId: `sha256:${String(i).padStart(64, 'f')}`, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 0 })),
  });
  return dirs;
}

/** The scenario's mini-web layers (base first). */
export function scenarioLayers(): FileTree[] {
  return [
    {
      'etc/os-release': 'NAME="Mini Linux"\nID=mini\n',
      bin: null, home: null, root: null, tmp: null, usr: null, var: null,
    },
    { 'app/server.py': 'print("hello")\n', 'app/config.json': '{"port": 8080}\n', 'app/version.txt': '1.0.0\n' },
    { 'app/config.json': '{"port": 8081, "debug": false}\n', 'app/version.txt': '1.0.1\n' },
  ];
}
