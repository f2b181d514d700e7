// node-tar (named in the design card) as an independent reader of real archives. It is
// not what unpack uses: its parser keeps only the PAX keys it knows (SCHILY.xattr.* are
// dropped) and refuses device nodes. Where it is right, for the headers of files,
// directories and links, our reader must agree with it entry for entry.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Parser } from 'tar';
import { TarParser, type TarHeader } from '../../src/layers/tar-reader';
import { makeTmp } from '../helpers/env';

type Row = [string, string, number, number, number, number, string, number];

const KIND: Record<string, string> = { File: 'file', OldFile: 'file', Directory: 'dir', SymbolicLink: 'symlink', Link: 'hardlink' };

function theirs(buf: Buffer): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const rows: Row[] = [];
    const p = new Parser({
      onReadEntry: (e) => {
        rows.push([e.path, KIND[e.type] ?? e.type, e.size ?? 0, e.mode ?? 0, e.uid ?? 0, e.gid ?? 0, e.linkpath ?? '', Math.floor((e.mtime?.getTime() ?? 0) / 1000)]);
        e.resume();
      },
    });
    p.on('end', () => resolve(rows));
    p.on('error', reject);
    p.end(buf);
  });
}

function ours(buf: Buffer): Row[] {
  const rows: Row[] = [];
  const parser = new TarParser({
    onEntry: (h: TarHeader) => {
      rows.push([h.path, h.kind, h.size, h.mode, h.uid, h.gid, h.linkpath, h.mtime.sec]);
    },
    onData: () => undefined,
    onEntryEnd: () => undefined,
  });
  parser.write(buf);
  parser.end();
  return rows;
}

test('node-tar and our reader agree on a GNU tar (pax) of real files, long names and links', async () => {
  const dir = makeTmp('node-tar');
  const src = path.join(dir, 'src');
  // Real files from this machine, plus the cases where the formats differ most.
  fs.mkdirSync(src);
  execFileSync('cp', ['-a', '/usr/share/doc/apt', '/usr/share/doc/bash', src]);
  const deep = path.join(src, 'd'.repeat(90), 'e'.repeat(90));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'f'.repeat(120)), 'long\n');
  fs.symlinkSync('../' + 'l'.repeat(150), path.join(src, 'longlink'));
  fs.linkSync(path.join(deep, 'f'.repeat(120)), path.join(src, 'hard'));
  fs.chmodSync(path.join(src, 'hard'), 0o4755);
  for (const format of ['posix', 'gnu']) {
    const buf = execFileSync('tar', [`--format=${format}`, '--sort=name', '-cf', '-', '-C', src, '.'], { maxBuffer: 64 << 20 });
    const [a, b] = [ours(buf), await theirs(buf)];
    assert.ok(a.length > 20, `${a.length} entries`);
    assert.deepEqual(a, b, format);
  }
});
