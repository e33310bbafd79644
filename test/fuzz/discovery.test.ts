// Property-based fuzzing of discovery's HTTP queries: any path, generated query parameters and
// methods. Bad input is a 4xx JSON answer with a message (naming the parameter), never a 5xx;
// discovery reads and never writes, so the API server's resourceVersion does not move.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscoveryHost, type Discovery } from '../../functions/discovery/handler.js';
import type { ListeningHost } from '../../shared/runtime/index.js';
import { startApiWithClusterCrd, type TestApi } from '../helpers/platform-api.js';
import { runs, Tally } from './runs.js';

let api: TestApi;
let discovery: Discovery;
let listening: ListeningHost;

beforeAll(async () => {
  const started = await startApiWithClusterCrd();
  api = started.api;
  const kube = started.kube;
  const host = createDiscoveryHost({ kube, cacheTtlMs: 200, config: { PORT: 0, LOG_LEVEL: 'silent' } });
  discovery = host.discovery;
  listening = await host.host.listen(0, '127.0.0.1');
}, 120_000);

afterAll(async () => {
  // Never a crash: the host still answers its health check after every run.
  expect((await fetch(`${listening.url}/healthz`)).status).toBe(200);
  await listening?.close();
  await discovery?.close();
  await api?.close();
});

/** The store's resourceVersion: any write anywhere moves it. */
async function storeVersion(): Promise<string> {
  const res = await fetch(`${api.url}/api/v1/namespaces`);
  return ((await res.json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
}

/** The version once the API server's own start-up writes (its controllers) have settled. */
async function settledVersion(): Promise<string> {
  let last = await storeVersion();
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await storeVersion();
    if (now === last) return now;
    last = now;
  }
}

async function ask(method: string, path: string): Promise<{ status: number; message?: string }> {
  const res = await fetch(`${listening.url}${path}`, { method });
  const text = await res.text();
  if (res.status < 400 || method === 'HEAD') return { status: res.status };
  // Discovery's own answers say `message`; the function host's (a path no route serves) `error`.
  const body = JSON.parse(text) as { message?: string; error?: string };
  const message = body.message ?? body.error;
  return { status: res.status, ...(message === undefined ? {} : { message }) };
}

const endpoint = fc.constantFrom('/cluster/nodes', '/cluster/topology');
const value = fc.oneof(fc.string({ maxLength: 30 }), fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/), fc.constant(''));
const param = fc.constantFrom('clusterName', 'namespace', 'role');
const query = fc.array(fc.tuple(fc.oneof(param, fc.string({ maxLength: 10 })), value), { maxLength: 5 });

describe('discovery under generated queries', () => {
  it('any query on either endpoint: 2xx or a 4xx with a message, never 5xx, no write', async () => {
    const tally = new Tally();
    const before = await settledVersion();
    await fc.assert(
      fc.asyncProperty(endpoint, query, async (path, pairs) => {
        tally.generated++;
        const answer = await ask('GET', `${path}?${new URLSearchParams(pairs).toString()}`);
        expect(answer.status).toBeLessThan(500);
        if (answer.status >= 400) expect(answer.message?.length).toBeGreaterThan(0);
      }),
      { numRuns: runs(200) },
    );
    expect(await storeVersion()).toBe(before);
    tally.report('discovery queries');
  });

  it('a bad value of a known parameter: 400 with a message naming that parameter', async () => {
    const tally = new Tally();
    const bad = fc.oneof(
      fc.record({
        name: fc.constant('clusterName'),
        value: fc.string({ maxLength: 30 }).filter((v) => !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v)),
      }),
      fc.record({
        name: fc.constant('namespace'),
        value: fc.string({ maxLength: 30 }).filter((v) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v)),
      }),
      fc.record({ name: fc.constant('role'), value: fc.string({ maxLength: 12 }).filter((v) => v !== 'master' && v !== 'replica') }),
    );
    await fc.assert(
      fc.asyncProperty(bad, async ({ name, value: v }) => {
        tally.generated++;
        const pairs: [string, string][] = [
          ['clusterName', 'rc'],
          ['namespace', 'cache'],
        ];
        const at = pairs.findIndex(([k]) => k === name);
        if (at >= 0) pairs[at] = [name, v];
        else pairs.push([name, v]);
        const answer = await ask('GET', `/cluster/nodes?${new URLSearchParams(pairs).toString()}`);
        expect(answer.status).toBe(400);
        expect(answer.message).toContain(name);
      }),
      { numRuns: runs(150) },
    );
    tally.report('discovery bad parameter');
  });

  it('any path (under /cluster or not) and any method: a 4xx with a JSON message or a 2xx/3xx, never 5xx', async () => {
    const tally = new Tally();
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
    const path = fc.oneof(
      fc.webPath().map((p) => `/cluster${p}`),
      fc.webPath().map((p) => p || '/'),
    );
    await fc.assert(
      fc.asyncProperty(method, path, fc.webQueryParameters(), async (m, p, q) => {
        tally.generated++;
        const answer = await ask(m, `${p}${q ? `?${q}` : ''}`);
        expect(answer.status).toBeLessThan(500);
        if (answer.status >= 400 && m !== 'HEAD') expect(answer.message?.length).toBeGreaterThan(0);
      }),
      { numRuns: runs(200) },
    );
    tally.report('discovery paths');
  });
});
