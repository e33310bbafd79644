import { describe, expect, it } from 'vitest';
import { badQueryAnswer, lookupFailedAnswer, renderView, unresolvedAnswer, viewName } from '../../functions/discovery/answer.js';
import { QueryError } from '../../functions/discovery/query.js';
import type { ClusterSnapshot } from '../../functions/discovery/view.js';

const query = { clusterName: 'rc' };

describe('error answers', () => {
  it('answers a bad query 400 with its message', () => {
    expect(badQueryAnswer(new QueryError('role', 'role must be one of master, replica'))).toEqual({
      code: 400,
      body: { message: 'role must be one of master, replica' },
    });
  });

  it('answers a failed lookup 503 naming the cluster and the reason', () => {
    expect(lookupFailedAnswer(query, 'connect ECONNREFUSED')).toEqual({
      code: 503,
      body: { message: 'cannot look up RedisCluster "rc": connect ECONNREFUSED' },
    });
  });

  it('answers an unknown cluster 404 and an ambiguous one 409 with its namespaces', () => {
    expect(unresolvedAnswer(query, { kind: 'not-found', message: 'gone' })).toEqual({ code: 404, body: { message: 'gone' } });
    expect(unresolvedAnswer(query, { kind: 'ambiguous', namespaces: ['cache', 'web'] })).toEqual({
      code: 409,
      body: {
        message: 'RedisCluster "rc" exists in several namespaces (cache, web); add namespace=<one of them>',
        namespaces: ['cache', 'web'],
      },
    });
  });
});

describe('views', () => {
  it('names one view per role of the node list, and one for the topology whatever the role', () => {
    expect(viewName('nodes', undefined)).toBe('nodes:');
    expect(viewName('nodes', 'master')).toBe('nodes:master');
    expect(viewName('nodes', 'replica')).toBe('nodes:replica');
    expect(viewName('topology', undefined)).toBe('topology');
    expect(viewName('topology', 'master')).toBe('topology');
  });

  const snapshot: ClusterSnapshot = {
    name: 'rc',
    namespace: 'cache',
    source: 'status',
    observedAt: '2026-01-01T00:00:00.000Z',
    statusNodes: [
      { id: 'a', pod: 'rc-0', ip: '10.0.0.1', port: 10000, role: 'master', slots: ['0-16383'] },
      { id: 'b', pod: 'rc-1', ip: '10.0.0.2', port: 10001, role: 'replica', masterId: 'a' },
    ],
    unreachable: [],
  };

  it('renders the node list of the asked role', () => {
    expect(JSON.parse(renderView(snapshot, 'nodes', undefined).body.toString())).toEqual([
      { ip: '10.0.0.1', port: 10000 },
      { ip: '10.0.0.2', port: 10001 },
    ]);
    expect(JSON.parse(renderView(snapshot, 'nodes', 'replica').body.toString())).toEqual([{ ip: '10.0.0.2', port: 10001 }]);
  });

  it('renders the topology, tagged by its source', () => {
    const topology = renderView(snapshot, 'topology', undefined);
    expect(JSON.parse(topology.body.toString())).toMatchObject({ name: 'rc', source: 'status', masters: [{ id: 'a', slotCount: 16384 }] });
    expect(topology.etag).not.toBe(renderView({ ...snapshot, source: 'live' }, 'topology', undefined).etag);
  });
});
