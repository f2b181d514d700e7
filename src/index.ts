// ocimount's public API. The CLI uses only what is exported here.
export * from './errors';
export * from './image/types';
export * from './image/platform';
