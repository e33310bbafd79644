export * from './client.js';
export * from './events.js';
export * from './lease.js';
export * from './names.js';
export * from './conditions.js';
export * from './nodes.js';
export * from './time.js';
