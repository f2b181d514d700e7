// Image reference parsing and normalisation.
export * from './reference';
