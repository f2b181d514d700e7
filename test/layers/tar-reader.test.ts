// The streaming tar reader against archives built in code: every header
// flavour, chunked at every awkward boundary, and broken archives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TarParser, parseNumeric, parsePaxTime } from '../../src/layers/tar-reader';
import type { TarHeader } from '../../src/layers/tar-reader';
import { tarBuffer } from '../../src/dev/tar';
import type { TarEntry, TarOptions } from '../../src/dev/tar';
import { isOcimountError } from '../../src/errors';

interface Parsed {
  h: TarHeader;
  body: Buffer;
}

/** Parses `buf` fed in chunks of `step` bytes (1 = byte by byte). */
function parse(buf: Buffer, step = buf.length): Parsed[] {
  const out: Parsed[] = [];
  let parts: Buffer[] = [];
  const p = new TarParser({
    onEntry: () => (parts = []),
    onData: (c) => parts.push(Buffer.from(c)),
    onEntryEnd: (h) => out.push({ h, body: Buffer.concat(parts) }),
  });
  for (let o = 0; o < buf.length; o += step) p.write(buf.subarray(o, o + step));
  p.end();
  return out;
}

const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);

const every: TarEntry[] = [
  { type: 'dir', path: 'd/', mode: 0o1777, uid: 5, gid: 6 },
  { type: 'file', path: 'd/f', content: 'hello', mode: 0o4755 },
  { type: 'hardlink', path: 'd/h', linkname: 'd/f' },
  { type: 'symlink', path: 'd/s', linkname: '../elsewhere' },
  { type: 'char', path: 'd/c', devmajor: 1, devminor: 3, mode: 0o666 },
  { type: 'block', path: 'd/b', devmajor: 7, devminor: 0, mode: 0o660 },
  { type: 'fifo', path: 'd/p', mode: 0o600 },
  { type: 'file', path: 'd/cap', content: 'x', xattrs: { 'security.capability': cap, 'user.nul': Buffer.from([0, 1, 0, 0xff]) } },
];

test('every entry type, mode bits, owners and devices round-trip', () => {
  for (const step of [1, 7, 511, 512, 513, 100000]) {
    const got = parse(tarBuffer(every), step);
    assert.deepEqual(
      got.map((e) => [e.h.path, e.h.kind, e.h.mode.toString(8)]),
      [
        ['d/', 'dir', '1777'],
        ['d/f', 'file', '4755'],
        ['d/h', 'hardlink', '644'],
        ['d/s', 'symlink', '777'],
        ['d/c', 'char', '666'],
        ['d/b', 'block', '660'],
        ['d/p', 'fifo', '600'],
        ['d/cap', 'file', '644'],
      ],
      `step ${step}`,
    );
    assert.equal(got[0].h.uid, 5);
    assert.equal(got[0].h.gid, 6);
    assert.equal(got[1].body.toString(), 'hello');
    assert.equal(got[2].h.linkpath, 'd/f');
    assert.equal(got[3].h.linkpath, '../elsewhere');
    assert.deepEqual([got[4].h.devmajor, got[4].h.devminor], [1, 3]);
    assert.deepEqual([got[5].h.devmajor, got[5].h.devminor], [7, 0]);
    // byte-exact xattrs, NULs and high bytes included
    assert.deepEqual(got[7].h.xattrs.get('security.capability'), cap);
    assert.deepEqual(got[7].h.xattrs.get('user.nul'), Buffer.from([0, 1, 0, 0xff]));
  }
});

test('long names and link names: PAX and GNU L/K, ustar prefix', () => {
  const long = 'a/'.repeat(80) + 'file-with-a-long-name.txt';
  const longLink = 'b/'.repeat(70) + 'target';
  const entries: TarEntry[] = [
    { type: 'file', path: long, content: 'L' },
    { type: 'symlink', path: 'short', linkname: longLink },
    { type: 'file', path: 'p'.repeat(120) + '/' + 'n'.repeat(90), content: 'ustar split' },
    { type: 'file', path: 'ünïcødé/名前.txt', content: 'u' },
  ];
  for (const longNames of ['pax', 'gnu'] as TarOptions['longNames'][]) {
    const got = parse(tarBuffer(entries, { longNames }), 333);
    assert.deepEqual(
      got.map((e) => e.h.path),
      entries.map((e) => e.path),
      String(longNames),
    );
    assert.equal(got[1].h.linkpath, longLink);
    assert.equal(got[2].body.toString(), 'ustar split');
  }
});

test('PAX: fractional mtimes exact to the nanosecond, large uid/gid and size records, globals', () => {
  const got = parse(
    tarBuffer([
      // (a float cannot hold 1700000000.123456789, so the record is written verbatim)
      { type: 'file', path: 'frac', pax: { mtime: '1700000000.123456789' } },
      { type: 'file', path: 'frac2', mtime: 1700000000.5 },
      { type: 'file', path: 'big', uid: 3_000_000_000, gid: 4_000_000_000, content: 'b' },
      { type: 'file', path: 'paxsize', content: 'abc', pax: { size: '3', uid: '12345678901', mtime: '-1.5' } },
    ]),
  );
  assert.deepEqual(got[0].h.mtime, { sec: 1700000000, nsec: 123456789 });
  assert.equal(got[2].h.uid, 3_000_000_000); // written base-256 by the fixture writer
  assert.equal(got[2].h.gid, 4_000_000_000);
  assert.equal(got[3].h.uid, 12345678901);
  assert.equal(got[3].body.toString(), 'abc');
  assert.deepEqual(got[1].h.mtime, { sec: 1700000000, nsec: 500000000 });
  assert.deepEqual(got[3].h.mtime, { sec: -2, nsec: 500000000 });
  assert.deepEqual(parsePaxTime('5'), { sec: 5, nsec: 0 });
  assert.deepEqual(parsePaxTime('1.0000000019'), { sec: 1, nsec: 1 });
});

/** A hand-made header block (for cases the fixture writer does not produce). */
function header(name: string, typeflag: string, size: number, extra: (b: Buffer) => void = () => {}): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'latin1');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('14000000000\0', 136, 'latin1');
  b.write(typeflag, 156, 'latin1');
  b.write('ustar\0' + '00', 257, 'latin1');
  extra(b);
  b.write('        ', 148, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}
function pad(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}
function paxData(recs: Record<string, string>): Buffer {
  return Buffer.concat(
    Object.entries(recs).map(([k, v]) => {
      const body = ` ${k}=${v}\n`;
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.from(len + body);
    }),
  );
}

test('global PAX headers apply to later entries until overridden or unset', () => {
  const g = paxData({ uname: 'globaluser', 'SCHILY.xattr.user.g': 'G' });
  const unset = paxData({ uname: '' });
  const buf = Buffer.concat([
    header('pax_global_header', 'g', g.length),
    pad(g),
    header('one', '0', 0),
    header('x', 'x', unset.length),
    pad(unset),
    header('two', '0', 0, (b) => b.write('hdruser', 265, 'latin1')),
    Buffer.alloc(1024),
  ]);
  const got = parse(buf, 100);
  assert.equal(got[0].h.uname, 'globaluser');
  assert.equal(got[0].h.xattrs.get('user.g')?.toString(), 'G');
  assert.equal(got[1].h.uname, 'hdruser'); // an empty local record unsets the global one
  assert.equal(got[1].h.xattrs.get('user.g')?.toString(), 'G');
});

test('contiguous files read as files, v7 trailing-slash directories, header-only types ignore size', () => {
  const buf = Buffer.concat([
    header('cont', '7', 3),
    pad(Buffer.from('abc')),
    header('olddir/', '\0', 0),
    header('link', '1', 999, (b) => b.write('cont', 157, 'latin1')),
    header('vol', 'V', 0),
    Buffer.alloc(1024),
  ]);
  const got = parse(buf);
  assert.deepEqual(
    got.map((e) => [e.h.path, e.h.kind, e.h.size]),
    [
      ['cont', 'file', 3],
      ['olddir/', 'dir', 0],
      ['link', 'hardlink', 0],
      ['vol', 'other', 0],
    ],
  );
  assert.equal(got[0].body.toString(), 'abc');
});

test('base-256 and octal numeric fields', () => {
  const b = Buffer.alloc(12);
  b[0] = 0x80;
  b.writeUIntBE(2 ** 40 + 5, 6, 6);
  assert.equal(parseNumeric(b, 0, 12), 2 ** 40 + 5);
  const neg = Buffer.alloc(8, 0xff);
  assert.equal(parseNumeric(neg, 0, 8), -1);
  assert.equal(parseNumeric(Buffer.from('  0755 \0'), 0, 8), 0o755);
});

test('truncated archives and corrupt headers are errors with codes', () => {
  const full = tarBuffer([{ type: 'file', path: 'f', content: Buffer.alloc(3000, 1) }]);
  for (const cut of [100, 700, 2000]) {
    assert.throws(
      () => parse(full.subarray(0, cut)),
      (e: unknown) => isOcimountError(e, 'TRUNCATED') && /entry "f"|header/.test((e as Error).message),
    );
  }
  // ending on an entry boundary without the end-of-archive blocks is accepted (as Go's reader does)
  assert.equal(parse(full.subarray(0, 512 + 3072)).length, 1);
  // so is ending right after the last body, before its padding (umoci 0.4.7 insert writes
  // layers so), or inside the zero blocks; the body itself must be whole
  const two = tarBuffer([{ type: 'dir', path: 'd/' }, { type: 'file', path: 'd/x', content: 'hi\n' }]);
  const at = two.indexOf('hi\n');
  for (const cut of [at + 3, at + 100, at + 512 + 26]) {
    const got = parse(two.subarray(0, cut));
    assert.deepEqual(got.map((e) => e.h.path), ['d/', 'd/x'], `cut at ${cut}`);
    assert.equal(got[1].body.toString(), 'hi\n');
  }
  assert.throws(() => parse(two.subarray(0, at + 2)), (e: unknown) => isOcimountError(e, 'TRUNCATED') && /entry "d\/x"/.test((e as Error).message));
  const bad = Buffer.from(full);
  bad[10] ^= 0xff;
  assert.throws(() => parse(bad), (e: unknown) => isOcimountError(e, 'CORRUPT'));
});

test('bytes after the end-of-archive marker are ignored', () => {
  const buf = Buffer.concat([tarBuffer([{ type: 'file', path: 'a', content: 'x' }]), Buffer.from('trailing garbage'.repeat(100))]);
  assert.deepEqual(
    parse(buf, 50).map((e) => e.h.path),
    ['a'],
  );
});
