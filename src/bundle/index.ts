// Runtime bundles: config.json from an image config, written next to the rootfs.
export { runtimeConfig, defaultMounts, RUNTIME_SPEC_VERSION, DEFAULT_PATH } from './runtime-config';
export type { RuntimeConfig, RuntimeConfigOptions, RuntimeMount } from './runtime-config';
export { resolveUser } from './user';
export type { ResolvedUser } from './user';
export { resolveInRootfs } from './rootfs-path';
