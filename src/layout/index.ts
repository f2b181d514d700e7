// OCI image layout: read (resolve DIR[:TAG|@DIGEST] to an image) and write
// (init, verified atomic blobs, index.json entries under a lock).
export { blobPath, blobsDir, checkDigest, INDEX_FILE, OCI_LAYOUT_FILE, TEMP_PREFIX } from './paths';
export { splitLayoutRef, isLayout, readIndex, findTag, resolveLayoutImage } from './read';
export type { ResolvedImage } from './read';
export { initLayout } from './init';
export { writeBlob, writeBlobBytes, hasValidBlob, listTempBlobs, removeStaleTempBlobs } from './blob';
export type { BlobRef, BlobSource, WriteBlobOptions, WriteBlobResult } from './blob';
export { putIndexEntry, withEntry } from './index-file';
export { withLayoutLock, LOCK_FILE } from './lock';
export { writeFileAtomic } from './atomic';
export { ociManifest, ociIndex, ociMediaType } from './oci-form';
