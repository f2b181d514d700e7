// A tar writer for fixtures and demos: every entry type, PAX or GNU long names,
// PAX xattrs (SCHILY.xattr.*, byte-exact) and raw, possibly hostile, paths.
// Unpacking never uses this; it exists so tests build their layers in code.

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  type: TarEntryType;
  /** Written as given: no normalisation, so tests can write `../x` or `/abs`. */
  path: string;
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch; a fraction is written as a PAX mtime record. */
  mtime?: number;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as SCHILY.xattr.NAME PAX records. */
  xattrs?: Record<string, Buffer | string>;
  /** Extra PAX records, written verbatim. */
  pax?: Record<string, string | Buffer>;
}

export interface TarOptions {
  /** How names longer than ustar allows are written. Default 'pax'. */
  longNames?: 'pax' | 'gnu';
  /** Omit the two zero blocks at the end (to build truncated archives). */
  noTrailer?: boolean;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const DEFAULT_MTIME = 1700000000; // fixed, so fixtures are reproducible

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** Numeric field: octal when it fits, else base-256 (GNU), as big uids and sizes need. */
function writeNumber(buf: Buffer, off: number, width: number, value: number): void {
  if (value >= 0 && value < 8 ** (width - 1)) {
    buf.write(octal(value, width), off, width, 'latin1');
    return;
  }
  buf[off] = 0x80;
  let v = BigInt(value);
  for (let i = width - 1; i > 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function paxRecord(key: string, value: Buffer): Buffer {
  // "LEN KEY=VALUE\n" where LEN counts itself.
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'utf8'), body]);
}

interface Header {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  prefix?: Buffer;
}

function headerBlock(h: Header): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0, 0, 100);
  writeNumber(b, 100, 8, h.mode & 0o7777);
  writeNumber(b, 108, 8, h.uid);
  writeNumber(b, 116, 8, h.gid);
  writeNumber(b, 124, 12, h.size);
  writeNumber(b, 136, 12, Math.floor(h.mtime));
  b.write('        ', 148, 8, 'latin1');
  b.write(h.typeflag, 156, 1, 'latin1');
  h.linkname.copy(b, 157, 0, 100);
  b.write('ustar\0', 257, 6, 'latin1');
  b.write('00', 263, 2, 'latin1');
  b.write((h.uname ?? '').slice(0, 31), 265, 32, 'utf8');
  b.write((h.gname ?? '').slice(0, 31), 297, 32, 'utf8');
  writeNumber(b, 329, 8, h.devmajor ?? 0);
  writeNumber(b, 337, 8, h.devminor ?? 0);
  if (h.prefix) h.prefix.copy(b, 345, 0, 155);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(sum, 7) + ' ', 148, 8, 'latin1');
  return b;
}

function dataBlocks(data: Buffer): Buffer[] {
  return data.length ? [data, Buffer.alloc(pad(data.length))] : [];
}

/** Splits a long name into ustar prefix + name when possible. */
function ustarSplit(name: Buffer): { name: Buffer; prefix?: Buffer } | undefined {
  if (name.length <= 100) return { name };
  if (name.length > 255) return undefined;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return undefined;
}

function defaultMode(t: TarEntryType): number {
  return t === 'dir' ? 0o755 : t === 'symlink' ? 0o777 : 0o644;
}

/** The blocks of one entry (extension headers included). */
export function entryBlocks(e: TarEntry, opts: TarOptions = {}): Buffer[] {
  const out: Buffer[] = [];
  const content = e.type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
  const name = Buffer.from(e.path, 'utf8');
  const linkname = Buffer.from(e.linkname ?? '', 'utf8');
  const mtime = e.mtime ?? DEFAULT_MTIME;
  const pax: [string, Buffer][] = [];
  const longMode = opts.longNames ?? 'pax';
  let split = ustarSplit(name);
  const nonAscii = /[^\x20-\x7e]/.test(e.path);

  if (!split || (nonAscii && longMode === 'pax')) {
    if (longMode === 'gnu') {
      const data = Buffer.concat([name, Buffer.from([0])]);
      out.push(headerBlock({ name: Buffer.from('././@LongLink'), mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag: 'L', linkname: Buffer.alloc(0) }), ...dataBlocks(data));
    } else {
      pax.push(['path', name]);
    }
    split = { name: name.subarray(0, 100) };
  }
  if (linkname.length > 100) {
    if (longMode === 'gnu') {
      const data = Buffer.concat([linkname, Buffer.from([0])]);
      out.push(headerBlock({ name: Buffer.from('././@LongLink'), mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag: 'K', linkname: Buffer.alloc(0) }), ...dataBlocks(data));
    } else {
      pax.push(['linkpath', linkname]);
    }
  }
  if (mtime !== Math.floor(mtime)) pax.push(['mtime', Buffer.from(mtime.toFixed(9).replace(/0+$/, ''))]);
  for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, Buffer.from(v)]);
  for (const [k, v] of Object.entries(e.pax ?? {})) pax.push([k, Buffer.from(v)]);

  if (pax.length) {
    const data = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
    const paxName = Buffer.from(`PaxHeaders/${e.path.split('/').filter(Boolean).pop() ?? 'x'}`.slice(0, 99));
    out.push(headerBlock({ name: paxName, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime, typeflag: 'x', linkname: Buffer.alloc(0) }), ...dataBlocks(data));
  }
  out.push(
    headerBlock({
      name: split.name,
      prefix: split.prefix,
      mode: e.mode ?? defaultMode(e.type),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: e.uname ?? (e.uid ? '' : 'root'),
      gname: e.gname ?? (e.gid ? '' : 'root'),
      size: content.length,
      mtime,
      typeflag: TYPEFLAG[e.type],
      linkname: linkname.subarray(0, 100),
      devmajor: e.devmajor,
      devminor: e.devminor,
    }),
    ...dataBlocks(content),
  );
  return out;
}

/** Yields the archive block by block, so large fixtures need not sit in memory. */
export function* tarChunks(entries: Iterable<TarEntry>, opts: TarOptions = {}): Generator<Buffer> {
  for (const e of entries) yield* entryBlocks(e, opts);
  if (!opts.noTrailer) yield Buffer.alloc(BLOCK * 2);
}

export function tarBuffer(entries: Iterable<TarEntry>, opts: TarOptions = {}): Buffer {
  return Buffer.concat([...tarChunks(entries, opts)]);
}
