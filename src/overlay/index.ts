// The overlay model: plain data in, answers out. No disk access of its own.
export * from './types';
export * from './whiteout';
export * from './override';
export * from './stack';
export * from './present';
