// A streaming tar reader: bytes in, entries out, never buffering a file body.
//
// Why not node-tar's parser: its pax handling keeps only the keys it knows, so
// SCHILY.xattr.* records are dropped (and values are cut at NUL), and its
// extractor refuses device nodes. Layers need both, byte-exact, so we read the
// format ourselves: ustar, PAX (local and global), GNU long names/links (L/K),
// base-256 numbers, every entry type.
//
// It is a push parser: write(chunk) calls the handler synchronously for each
// header and body slice, so a Writable wrapping it gets backpressure for free
// (its callback runs only after the chunk has been fully handled).
import { OcimountError } from '../errors';
import type { Timespec } from '../fsops/types';

export type TarEntryKind = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'other';

export type TarTime = Timespec;

export interface TarHeader {
  /** Entry name after PAX/GNU overrides, as written (not normalised). */
  path: string;
  kind: TarEntryKind;
  /** The raw typeflag character ('0', '5', 'S', ...). */
  typeflag: string;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Body bytes that follow (0 for header-only types). */
  size: number;
  mtime: TarTime;
  atime?: TarTime;
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from SCHILY.xattr.* (and LIBARCHIVE.xattr.*), values byte-exact. */
  xattrs: Map<string, Buffer>;
  /** PAX records we do not interpret (GNU.sparse.*, ...), for the caller to judge. */
  paxExtra: Map<string, Buffer>;
}

export interface TarHandler {
  onEntry(h: TarHeader): void;
  /** A slice of the current entry's body; only valid during the call. */
  onData(chunk: Buffer): void;
  onEntryEnd(h: TarHeader): void;
}

const BLOCK = 512;
/** Caps for bodies we must hold in memory (extension headers), so a hostile size cannot exhaust memory. */
const MAX_META = 16 * 1024 * 1024;

function corrupt(msg: string): OcimountError {
  return new OcimountError('CORRUPT', `invalid tar stream: ${msg}`);
}

function cstr(b: Buffer, off: number, len: number): Buffer {
  const end = b.indexOf(0, off);
  return b.subarray(off, end === -1 || end > off + len ? off + len : end);
}

/** Octal (NUL/space padded) or GNU base-256 numeric field. */
export function parseNumeric(b: Buffer, off: number, len: number): number {
  const first = b[off];
  if (first & 0x80) {
    // base-256: big-endian two's complement, top bit of the first byte is the marker
    const negative = (first & 0x40) !== 0;
    let v = BigInt(first & 0x3f) - (negative ? 0x40n : 0n);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(b[off + i]);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw corrupt('numeric field out of range');
    return Number(v);
  }
  const s = b.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw corrupt(`bad octal field "${s}"`);
  return parseInt(s, 8);
}

/** "123.456789" -> {sec, nsec}, exact to the nanosecond (no float rounding). */
export function parsePaxTime(s: string): TarTime {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s.trim());
  if (!m) throw corrupt(`bad PAX time "${s}"`);
  let sec = Number(m[2]);
  let nsec = Number((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (m[1] === '-') {
    // -1.5 means 1.5 s before the epoch: sec -2, nsec 0.5e9
    sec = -sec;
    if (nsec) {
      sec -= 1;
      nsec = 1e9 - nsec;
    }
  }
  return { sec, nsec };
}

function checksumOk(b: Buffer): boolean {
  const stored = parseNumeric(b, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** Parses PAX records "LEN key=value\n" into a map of raw values (a present-but-empty value means "unset"). */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break; // some writers pad with NULs
    const sp = data.indexOf(0x20, off);
    if (sp === -1) throw corrupt('PAX record without length');
    const len = Number(data.toString('latin1', off, sp));
    if (!Number.isInteger(len) || len <= sp - off || off + len > data.length) throw corrupt('bad PAX record length');
    const rec = data.subarray(sp + 1, off + len);
    if (rec[rec.length - 1] !== 0x0a) throw corrupt('PAX record not newline-terminated');
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw corrupt('PAX record without "="');
    out.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1, rec.length - 1));
    off += len;
  }
  return out;
}

const KINDS: Record<string, TarEntryKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Types whose size field never announces body bytes (as Go's archive/tar treats them). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

type State = 'header' | 'body' | 'meta' | 'pad' | 'end';

export class TarParser {
  private state: State = 'header';
  private hdrBuf = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  private remaining = 0;
  private padRemaining = 0;
  private metaType = '';
  private metaChunks: Buffer[] = [];
  private current: TarHeader | undefined;
  private global = new Map<string, Buffer>();
  private local = new Map<string, Buffer>();
  private gnuLongName: Buffer | undefined;
  private gnuLongLink: Buffer | undefined;
  /** Bytes seen (the whole stream, trailer and padding included). */
  position = 0;

  constructor(private readonly handler: TarHandler) {}

  get ended(): boolean {
    return this.state === 'end';
  }

  write(chunk: Buffer): void {
    this.position += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      switch (this.state) {
        case 'end':
          return; // bytes after the end-of-archive marker: hashed by the caller, ignored here
        case 'header': {
          const take = Math.min(BLOCK - this.hdrFill, chunk.length - off);
          if (this.hdrFill === 0 && take === BLOCK) {
            off += BLOCK;
            this.header(chunk.subarray(off - BLOCK, off));
          } else {
            chunk.copy(this.hdrBuf, this.hdrFill, off, off + take);
            this.hdrFill += take;
            off += take;
            if (this.hdrFill === BLOCK) {
              this.hdrFill = 0;
              this.header(this.hdrBuf);
            }
          }
          break;
        }
        case 'body': {
          const take = Math.min(this.remaining, chunk.length - off);
          this.handler.onData(chunk.subarray(off, off + take));
          off += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finishBody();
          break;
        }
        case 'meta': {
          const take = Math.min(this.remaining, chunk.length - off);
          this.metaChunks.push(Buffer.from(chunk.subarray(off, off + take)));
          off += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finishMeta();
          break;
        }
        case 'pad': {
          const take = Math.min(this.padRemaining, chunk.length - off);
          off += take;
          this.padRemaining -= take;
          if (this.padRemaining === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /** Call at end of input: throws TRUNCATED unless the archive ended on an entry boundary. */
  end(): void {
    if (this.state === 'end') return;
    // Every entry complete, only the end-of-archive blocks (or the last entry's
    // padding, or part of a zero block) missing: that is how Debian's umoci 0.4.7
    // `insert` writes layers, and umoci reads them. Integrity of the whole stream is
    // the diff_id's job: the layer fails if it differs from the image config.
    const zeroTail = this.state === 'header' && this.hdrBuf.subarray(0, this.hdrFill).every((x) => x === 0);
    if (zeroTail || this.state === 'pad') {
      this.state = 'end';
      return;
    }
    const what = this.current ? `in entry "${this.current.path}"` : 'in a header';
    throw new OcimountError('TRUNCATED', `tar stream ends unexpectedly ${what} (${this.position} bytes read)`);
  }

  private header(b: Buffer): void {
    if (b.every((x) => x === 0)) {
      // End-of-archive: the first zero block is enough; what follows is ignored.
      this.state = 'end';
      return;
    }
    if (!checksumOk(b)) throw corrupt(`header checksum mismatch at byte ${this.position}`);
    const typeflag = String.fromCharCode(b[156]);
    const size = parseNumeric(b, 124, 12);
    if (size < 0) throw corrupt('negative size');

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META) throw corrupt(`extension header of ${size} bytes is larger than allowed`);
      this.metaType = typeflag;
      this.metaChunks = [];
      this.remaining = size;
      this.padRemaining = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = 'meta';
      if (size === 0) this.finishMeta();
      return;
    }

    const magic = b.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0'; // POSIX; GNU writes "ustar  \0" and uses the prefix field for times
    let nameBuf = cstr(b, 0, 100);
    if (ustar) {
      const prefix = cstr(b, 345, 155);
      if (prefix.length) nameBuf = Buffer.concat([prefix, Buffer.from('/'), nameBuf]);
    }
    const pax = new Map([...this.global, ...this.local]);
    this.local = new Map();
    const text = (k: string): string | undefined => {
      const v = pax.get(k);
      return v && v.length ? v.toString('utf8') : undefined;
    };

    const path = text('path') ?? (this.gnuLongName ? cstr(this.gnuLongName, 0, this.gnuLongName.length).toString('utf8') : nameBuf.toString('utf8'));
    const linkpath =
      text('linkpath') ?? (this.gnuLongLink ? cstr(this.gnuLongLink, 0, this.gnuLongLink.length).toString('utf8') : cstr(b, 157, 100).toString('utf8'));
    this.gnuLongName = undefined;
    this.gnuLongLink = undefined;

    let kind: TarEntryKind = KINDS[typeflag] ?? 'other';
    // Old (v7) archives mark directories only by a trailing slash.
    if (typeflag === '\0' && path.endsWith('/')) kind = 'dir';

    const num = (k: string, fallback: number): number => {
      const v = text(k);
      if (v === undefined) return fallback;
      if (!/^\d+$/.test(v)) throw corrupt(`bad PAX ${k} "${v}"`);
      return Number(v);
    };
    const xattrs = new Map<string, Buffer>();
    const paxExtra = new Map<string, Buffer>();
    for (const [k, v] of pax) {
      if (k.startsWith('SCHILY.xattr.')) {
        xattrs.set(k.slice(13), v);
      } else if (k.startsWith('LIBARCHIVE.xattr.')) {
        // bsdtar: name URL-encoded, value base64
        xattrs.set(decodeURIComponent(k.slice(17)), Buffer.from(v.toString('latin1'), 'base64'));
      } else if (!['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime', 'comment', 'charset', 'hdrcharset'].includes(k)) {
        if (v.length) paxExtra.set(k, v);
      }
    }
    const mtimeText = text('mtime');
    const atimeText = text('atime');
    const entrySize = num('size', size);
    const h: TarHeader = {
      path,
      kind,
      typeflag,
      mode: parseNumeric(b, 100, 8) & 0o7777,
      uid: num('uid', parseNumeric(b, 108, 8)),
      gid: num('gid', parseNumeric(b, 116, 8)),
      uname: text('uname') ?? cstr(b, 265, 32).toString('utf8'),
      gname: text('gname') ?? cstr(b, 297, 32).toString('utf8'),
      size: HEADER_ONLY.has(typeflag) ? 0 : entrySize,
      mtime: mtimeText !== undefined ? parsePaxTime(mtimeText) : { sec: parseNumeric(b, 136, 12), nsec: 0 },
      ...(atimeText !== undefined ? { atime: parsePaxTime(atimeText) } : {}),
      linkpath,
      devmajor: kind === 'char' || kind === 'block' ? parseNumeric(b, 329, 8) : 0,
      devminor: kind === 'char' || kind === 'block' ? parseNumeric(b, 337, 8) : 0,
      xattrs,
      paxExtra,
    };
    this.current = h;
    this.handler.onEntry(h);
    this.remaining = h.size;
    this.padRemaining = (BLOCK - (h.size % BLOCK)) % BLOCK;
    this.state = 'body';
    if (h.size === 0) this.finishBody();
  }

  private finishBody(): void {
    const h = this.current!;
    this.current = undefined;
    this.state = this.padRemaining ? 'pad' : 'header';
    this.handler.onEntryEnd(h);
  }

  private finishMeta(): void {
    const data = Buffer.concat(this.metaChunks);
    this.metaChunks = [];
    switch (this.metaType) {
      case 'x':
        for (const [k, v] of parsePax(data)) this.local.set(k, v);
        break;
      case 'g':
        for (const [k, v] of parsePax(data)) {
          if (v.length) this.global.set(k, v);
          else this.global.delete(k);
        }
        break;
      case 'L':
        this.gnuLongName = data;
        break;
      case 'K':
        this.gnuLongLink = data;
        break;
    }
    this.state = this.padRemaining ? 'pad' : 'header';
  }
}
