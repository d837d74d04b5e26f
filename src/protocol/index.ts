export * from './close-codes.ts';
export * from './errors.ts';
export * from './frames.ts';
export * from './input.ts';
export * from './model.ts';
export * from './topics.ts';
