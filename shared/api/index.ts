// What the functions use at run time. The CRD generator and the schema tooling (crd.ts, openapi.ts)
// are imported by path, so a cold start does not load yaml.
export * from './names.js';
export * from './labels.js';
export * from './memory.js';
export * from './quantity.js';
export * from './redis-config.js';
export * from './fields.js';
export * from './rules.js';
export * from './spec.js';
export * from './status.js';
export * from './conditions.js';
export * from './cluster.js';
