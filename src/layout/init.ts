// Creating (or opening for writing) an OCI image layout. A directory that exists,
// is not empty and has no oci-layout file is refused: pulling into it would mix
// an image into someone else's files.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { MediaType } from '../image/types';
import type { Index } from '../image/types';
import { writeFileAtomic } from './atomic';
import { INDEX_FILE, LAYOUT_VERSION, OCI_LAYOUT_FILE, blobsDir } from './paths';
import { mkdirp } from '../mkdirp';

function notALayout(dir: string, why: string): OcimountError {
  return new OcimountError('NOT_A_LAYOUT', `${dir} is not an OCI image layout (${why}); pull into a new or empty directory`, { dir });
}

async function ignoreExists(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Makes dir a layout if it is missing or empty; checks it is one otherwise. Returns the absolute path. */
export async function initLayout(dir: string): Promise<string> {
  const layout = path.resolve(dir);
  let st: fs.Stats | undefined;
  try {
    st = await fsp.stat(layout);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const marker = path.join(layout, OCI_LAYOUT_FILE);
  if (st && !st.isDirectory()) throw notALayout(dir, 'it is not a directory');
  if (st && fs.existsSync(marker)) {
    let v: { imageLayoutVersion?: unknown };
    try {
      v = JSON.parse(await fsp.readFile(marker, 'utf8'));
    } catch {
      throw notALayout(dir, 'its oci-layout file is not JSON');
    }
    if (typeof v?.imageLayoutVersion !== 'string' || !v.imageLayoutVersion.startsWith('1.')) {
      throw new OcimountError('UNSUPPORTED', `${dir}: unsupported image layout version ${JSON.stringify(v?.imageLayoutVersion)}`);
    }
  } else if (st) {
    // Only pieces of a layout another pull is creating right now (it writes blobs/,
    // index.json, then oci-layout) count as empty; anything else is someone's files.
    const names = await fsp.readdir(layout);
    const foreign = names.filter((n) => n !== 'blobs' && n !== INDEX_FILE && !n.startsWith(`.${INDEX_FILE}.tmp-`) && !n.startsWith(`.${OCI_LAYOUT_FILE}.tmp-`));
    if (foreign.length > 0) throw notALayout(dir, 'no oci-layout file, and it is not empty');
  }
  mkdirp(blobsDir(layout));
  // index.json first, oci-layout last: a directory with the marker always has an index.
  const empty: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  await ignoreExists(writeFileAtomic(path.join(layout, INDEX_FILE), JSON.stringify(empty, null, 2) + '\n', { exclusive: true }));
  await ignoreExists(writeFileAtomic(marker, JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }), { exclusive: true }));
  return layout;
}
