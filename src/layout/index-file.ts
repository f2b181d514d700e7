// index.json updates: under the layout lock, read, change, write atomically.
// A tag names one entry: tagging again replaces it, another tag adds an entry.
import * as path from 'node:path';
import { REF_NAME_ANNOTATION } from '../image/types';
import type { Descriptor, Index } from '../image/types';
import { writeFileAtomic } from './atomic';
import { withLayoutLock } from './lock';
import { INDEX_FILE, checkDigest } from './paths';
import { readIndex } from './read';

/** Entry for desc, tagged when tag is given; an untagged entry replaces untagged entries of the same digest. */
export function withEntry(idx: Index, desc: Descriptor, tag?: string): Index {
  checkDigest(desc.digest);
  const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  const annotations = { ...(desc.annotations ?? {}) };
  delete annotations[REF_NAME_ANNOTATION];
  if (tag) annotations[REF_NAME_ANNOTATION] = tag;
  if (Object.keys(annotations).length) entry.annotations = annotations;
  if (desc.platform) entry.platform = desc.platform;
  const keep = idx.manifests.filter((m) => {
    const t = m.annotations?.[REF_NAME_ANNOTATION];
    return tag ? t !== tag : t !== undefined || m.digest !== desc.digest;
  });
  return { ...idx, schemaVersion: 2, manifests: [...keep, entry] };
}

/** Adds or replaces the index.json entry for desc (tagged TAG), atomically and under the layout lock. */
export async function putIndexEntry(layout: string, desc: Descriptor, tag?: string): Promise<Index> {
  return withLayoutLock(layout, async () => {
    const next = withEntry(readIndex(layout), desc, tag);
    await writeFileAtomic(path.join(layout, INDEX_FILE), JSON.stringify(next, null, 2) + '\n');
    return next;
  });
}
