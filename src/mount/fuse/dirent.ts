// readdir entry stats in fuse-native's wire form, built once per listing: 18 uint32s
// per entry (mode, uid, gid, size lo/hi, dev, nlink, ino, rdev, blksize, blocks lo/hi,
// atime, mtime, ctime as ms lo/hi). libfuse only reads st_ino and the type bits of
// st_mode (d_ino, d_type). fuse-native would allocate one typed array per entry on
// every listing, which cost more than the overlay merge itself; these are views into
// one buffer, and the adapter passes them through untouched.
const INTS = 18;

export interface DirentSource {
  mode: number;
  ino: number;
}

export function encodeDirents(entries: DirentSource[]): Uint32Array[] {
  const all = new Uint32Array(entries.length * INTS);
  const out: Uint32Array[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const a = all.subarray(i * INTS, (i + 1) * INTS);
    a[0] = entries[i].mode;
    a[6] = 1; // nlink, as fuse-native's default
    a[7] = entries[i].ino;
    out[i] = a;
  }
  return out;
}
