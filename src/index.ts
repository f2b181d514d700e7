// ocimount's public API. The CLI uses only what is exported here.
export * from './errors';
export * from './image/types';
export * from './image/platform';
export { unpack } from './unpack';
export type { UnpackOptions } from './unpack';
export { unpackLayers } from './layers/unpack-layers';
export type { UnpackLayersOptions, UnpackLayersResult, LayerProgress } from './layers/unpack-layers';
export type { LayerSource } from './layers/apply';
export type { UnpackWarning, UnpackWarningCode } from './layers/warnings';
