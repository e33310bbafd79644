// Property-based fuzzing of the embedded API server: object bodies, the four patch types, label and
// field selectors and query parameters. Bad input is a 4xx Kubernetes Status with a message, never
// a 5xx; a refused request writes nothing (the object's resourceVersion, the collection's size).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/platform-api.js';
import { runs, Tally } from './runs.js';

let api: TestApi;
const COLLECTION = '/apis/redis.redis/v1beta1/namespaces/cache/redisclusters';
const OBJECT = `${COLLECTION}/rc`;

interface Answer {
  status: number;
  body: { kind?: string; status?: string; message?: string; metadata?: { resourceVersion?: string }; items?: unknown[] };
}

async function call(method: string, path: string, body?: string, contentType = 'application/json'): Promise<Answer> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': contentType } }),
  });
  const text = await res.text();
  let parsed: Answer['body'];
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    parsed = {};
  }
  return { status: res.status, body: parsed };
}

/** The property every answer keeps: below 500, and a refusal is a Status saying why. */
function wellAnswered(a: Answer): boolean {
  expect(a.status).toBeLessThan(500);
  if (a.status < 400) return true;
  expect(a.body.kind).toBe('Status');
  expect(a.body.status).toBe('Failure');
  expect(a.body.message?.length).toBeGreaterThan(0);
  return false;
}

const objectVersion = async () => (await call('GET', OBJECT)).body.metadata?.resourceVersion;
const collectionSize = async () => (await call('GET', COLLECTION)).body.items?.length;

beforeAll(async () => {
  api = await startTestApi();
  const crd = readFileSync('charts/redis-operator/crds/redisclusters.redis.redis.yaml', 'utf8');
  expect((await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', JSON.stringify(parse(crd)))).status).toBe(201);
  const rc = {
    apiVersion: 'redis.redis/v1beta1',
    kind: 'RedisCluster',
    metadata: { name: 'rc' },
    spec: { image: 'redis:7.0', masters: 3, maxMemory: '256mb' },
  };
  // The CRD is served once it is Established; retry briefly.
  for (let i = 0; i < 50; i++) {
    if ((await call('POST', COLLECTION, JSON.stringify(rc))).status === 201) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await objectVersion()).toBeDefined();
}, 60_000);

afterAll(async () => {
  // Never a crash: the server still answers after every run.
  expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  await api?.close();
});

const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

// Generated JSON patch operations: real op names and paths into the object, and anything else.
const jsonPatchOp = fc.record(
  {
    op: fc.oneof(fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test'), fc.string({ maxLength: 8 })),
    path: fc.oneof(
      fc.constantFrom('/spec/masters', '/spec/replicas', '/metadata/labels', '/spec', '/metadata/name', '/status'),
      fc.webPath(),
    ),
    from: fc.constantFrom('/spec/masters', '/spec/image', '/nope'),
    value: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

describe('the embedded API server under generated input', () => {
  it('every patch type with a generated body: 2xx or a 4xx Status, never 5xx; a refused patch writes nothing', async () => {
    const tally = new Tally();
    const patch = fc.oneof(
      fc.record({ type: fc.constant(PATCH_TYPES.json), body: fc.array(jsonPatchOp, { maxLength: 3 }).map((ops) => JSON.stringify(ops)) }),
      fc.record({
        type: fc.constantFrom(PATCH_TYPES.merge, PATCH_TYPES.strategic, PATCH_TYPES.apply, PATCH_TYPES.json),
        body: fc.oneof(
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
          fc
            .record({
              spec: fc.dictionary(fc.constantFrom('masters', 'replicas', 'image', 'maxMemory', 'paused'), fc.jsonValue({ maxDepth: 1 })),
            })
            .map((v) => JSON.stringify({ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', metadata: { name: 'rc' }, ...v })),
          fc.string({ maxLength: 60 }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(patch, fc.constantFrom('', '/status', '/scale'), async ({ type, body }, sub) => {
        tally.generated++;
        const before = await objectVersion();
        const query = type === PATCH_TYPES.apply ? '?fieldManager=fuzz&force=true' : '';
        const answer = await call('PATCH', `${OBJECT}${sub}${query}`, body, type);
        if (!wellAnswered(answer)) expect(await objectVersion()).toBe(before);
      }),
      { numRuns: runs(200) },
    );
    tally.report('apiserver patches');
  });

  it('a generated body on create and replace: 2xx or a 4xx Status, never 5xx; a refused create adds nothing', async () => {
    const tally = new Tally();
    const spec = fc.dictionary(
      fc.constantFrom('masters', 'replicas', 'image', 'basePort', 'maxMemory', 'paused'),
      fc.jsonValue({ maxDepth: 1 }),
    );
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc
        .record({ name: fc.oneof(fc.constant('rc'), fc.string({ maxLength: 20 })), spec })
        .map(({ name, spec: s }) =>
          JSON.stringify({ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', metadata: { name }, spec: s }),
        ),
      fc.string({ maxLength: 60 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('POST', 'PUT'), body, async (method, b) => {
        tally.generated++;
        const size = await collectionSize();
        const version = await objectVersion();
        const answer = await call(method, method === 'POST' ? COLLECTION : OBJECT, b);
        if (!wellAnswered(answer)) {
          expect(await collectionSize()).toBe(size);
          expect(await objectVersion()).toBe(version);
        } else if (method === 'POST') {
          // An accepted create is undone so the collection stays small.
          const created = (answer.body as { metadata?: { name?: string } }).metadata?.name;
          if (created) await call('DELETE', `${COLLECTION}/${created}`);
        }
      }),
      { numRuns: runs(200) },
    );
    tally.report('apiserver bodies');
  });

  it('generated label and field selectors and query parameters on list and watch: 2xx or a 4xx Status, never 5xx', async () => {
    const tally = new Tally();
    const selector = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc
        .array(
          fc.tuple(fc.stringMatching(/^[a-z]{1,5}$/), fc.constantFrom('=', '==', '!=', ' in ', ' notin ', ''), fc.string({ maxLength: 8 })),
          { maxLength: 3 },
        )
        .map((terms) => terms.map(([k, op, v]) => (op.includes('in') ? `${k}${op}(${v})` : `${k}${op}${v}`)).join(',')),
      fc.constantFrom('metadata.name=rc', 'metadata.namespace!=x', 'status.phase=Ready', 'spec.nope=1'),
    );
    const params = fc.record(
      {
        labelSelector: selector,
        fieldSelector: selector,
        limit: fc.oneof(fc.integer().map(String), fc.string({ maxLength: 6 })),
        continue: fc.string({ maxLength: 20 }),
        resourceVersion: fc.oneof(fc.constant('0'), fc.string({ maxLength: 6 })),
        timeoutSeconds: fc.oneof(fc.constant('0'), fc.string({ maxLength: 6 })),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        params,
        fc.webQueryParameters(),
        fc.constantFrom(COLLECTION, '/api/v1/pods', '/api/v1/namespaces'),
        async (p, extra, path) => {
          tally.generated++;
          const q = new URLSearchParams(p as Record<string, string>).toString();
          wellAnswered(await call('GET', `${path}?${[q, extra].filter(Boolean).join('&')}`));
        },
      ),
      { numRuns: runs(200) },
    );
    tally.report('apiserver selectors and query');
  });
});
