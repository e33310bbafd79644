import { describe, expect, it } from 'vitest';
import { parseClusterQuery, QueryError } from '../../functions/discovery/query.js';

function failure(query: Record<string, unknown>, withRole = true): QueryError {
  try {
    parseClusterQuery(query, withRole);
  } catch (err) {
    if (err instanceof QueryError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(query)} to be refused`);
}

describe('discovery query parameters', () => {
  it('takes clusterName, namespace and role, and ignores other parameters', () => {
    expect(parseClusterQuery({ clusterName: 'rediscluster1' })).toEqual({ clusterName: 'rediscluster1' });
    expect(parseClusterQuery({ clusterName: 'rc.v2', namespace: 'cache', role: 'replica', pretty: '1', x: ['a', 'b'] }, true)).toEqual({
      clusterName: 'rc.v2',
      namespace: 'cache',
      role: 'replica',
    });
  });

  it('requires clusterName and names it', () => {
    const err = failure({});
    expect(err.parameter).toBe('clusterName');
    expect(err.message).toMatch(/clusterName is required/);
    expect(failure({ clusterName: '' }).message).toMatch(/clusterName must not be empty/);
    expect(failure({ namespace: 'cache' }).parameter).toBe('clusterName');
  });

  it('refuses names that no RedisCluster can have', () => {
    for (const bad of ['Upper', 'with space', '-lead', 'trail-', 'a_b', 'x'.repeat(254), 'a..b', '../etc']) {
      const err = failure({ clusterName: bad });
      expect(err.parameter).toBe('clusterName');
      expect(err.message).toMatch(/not a valid RedisCluster name/);
    }
  });

  it('refuses a repeated or structured parameter', () => {
    expect(failure({ clusterName: ['a', 'b'] }).message).toBe('clusterName must be given once, as a plain value');
    expect(failure({ clusterName: 'a', namespace: ['x', 'y'] }).parameter).toBe('namespace');
  });

  it('checks the namespace as a DNS label', () => {
    expect(failure({ clusterName: 'a', namespace: '' }).parameter).toBe('namespace');
    expect(failure({ clusterName: 'a', namespace: 'a.b' }).message).toMatch(/namespace "a.b" is not a valid namespace name/);
    expect(failure({ clusterName: 'a', namespace: 'x'.repeat(64) }).parameter).toBe('namespace');
  });

  it('accepts role=master|replica only where roles apply', () => {
    expect(parseClusterQuery({ clusterName: 'a', role: 'master' }, true).role).toBe('master');
    const err = failure({ clusterName: 'a', role: 'slave' });
    expect(err.parameter).toBe('role');
    expect(err.message).toBe('role must be one of master, replica, got "slave"');
    expect(failure({ clusterName: 'a', role: '' }).parameter).toBe('role');
    // The topology endpoint has no role filter: the parameter is ignored there.
    expect(parseClusterQuery({ clusterName: 'a', role: 'bogus' }, false)).toEqual({ clusterName: 'a' });
  });
});
