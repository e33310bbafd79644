export * from './catalog.js';
export * from './codec.js';
export * from './emitter.js';
