export * from './config.js';
export * from './host.js';
export * from './metrics.js';
export * from './receive.js';
export * from './run.js';
