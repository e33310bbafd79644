// The whole RedisCluster object, as the API server stores it.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { z } from 'zod';
import { API_VERSION, KIND } from './names.js';
import { specSchema, type RedisClusterSpec } from './spec.js';
import { statusSchema, type RedisClusterStatus } from './status.js';

export const redisClusterSchema = z
  .object({
    apiVersion: z.string().optional().describe(`The API version: ${API_VERSION}.`),
    kind: z.string().optional().describe(`The kind: ${KIND}.`),
    metadata: z.looseObject({}).optional(),
    spec: specSchema,
    status: statusSchema.optional(),
  })
  .describe('A Redis Cluster managed by the operator.');

export interface RedisCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta;
  spec: RedisClusterSpec;
  status?: RedisClusterStatus;
}
