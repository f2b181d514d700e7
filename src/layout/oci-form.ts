// Docker schema2 → OCI, for what goes into a layout: peers (skopeo's oci:
// transport, umoci) only read OCI media types from index.json, as `skopeo copy
// docker://… oci:…` also converts. Blobs are unchanged (the formats are the same
// bytes); only the manifest / index JSON is rewritten, so its digest changes.
import { createHash } from 'node:crypto';
import { MediaType } from '../image/types';
import type { Descriptor, Index, Manifest } from '../image/types';

const LAYER_TYPES: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerForeignLayerGzip]: MediaType.OciLayerNondistributableGzip,
  [MediaType.DockerLayerZstd]: MediaType.OciLayerZstd,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.OciLayer,
  [MediaType.DockerConfig]: MediaType.OciConfig,
  [MediaType.DockerManifest]: MediaType.OciManifest,
  [MediaType.DockerManifestList]: MediaType.OciIndex,
};

export function ociMediaType(mt: string): string {
  return LAYER_TYPES[mt] ?? mt;
}

export interface Rewritten {
  body: Buffer;
  desc: Descriptor;
}

function finish(doc: object, old: Descriptor): Rewritten {
  const body = Buffer.from(JSON.stringify(doc));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  return { body, desc: { ...old, mediaType: (doc as { mediaType: string }).mediaType, digest, size: body.length } };
}

/** The OCI form of a Docker schema2 manifest (undefined when it already is OCI). */
export function ociManifest(doc: Manifest, desc: Descriptor): Rewritten | undefined {
  if ((doc.mediaType ?? desc.mediaType) !== MediaType.DockerManifest) return undefined;
  const conv = (d: Descriptor): Descriptor => ({ ...d, mediaType: ociMediaType(d.mediaType) });
  return finish({ ...doc, mediaType: MediaType.OciManifest, config: conv(doc.config), layers: doc.layers.map(conv) }, desc);
}

/** The OCI form of an index whose children were rewritten (by source digest), or of a Docker list. */
export function ociIndex(doc: Index, desc: Descriptor, children: Map<string, Descriptor>): Rewritten | undefined {
  const manifests = doc.manifests.map((m) => {
    const n = children.get(m.digest);
    return n ? { ...m, mediaType: n.mediaType, digest: n.digest, size: n.size } : m;
  });
  const changed = manifests.some((m, i) => m !== doc.manifests[i]);
  if (!changed && (doc.mediaType ?? desc.mediaType) !== MediaType.DockerManifestList) return undefined;
  return finish({ ...doc, mediaType: MediaType.OciIndex, manifests }, desc);
}
