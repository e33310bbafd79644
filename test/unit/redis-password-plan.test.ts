import { describe, expect, it } from 'vitest';
import { passwordHash, planRotation, type NodeAuth } from '../../shared/redis/planner/password.js';

const OLD = passwordHash('old');
const NEW = passwordHash('new');
const node = (name: string, passwords: string[], masterauth: string | undefined): [string, NodeAuth] => [
  name,
  { node: name, passwordHashes: passwords, masterauthHash: masterauth },
];

describe('password rotation planning', () => {
  it('adds the new password where it is missing, before touching any masterauth', () => {
    const plan = planRotation(NEW, new Map([node('a', [OLD, NEW], OLD), node('b', [OLD], OLD)]));
    expect(plan).toEqual({ phase: 'add', steps: [{ kind: 'add-password', node: 'b' }] });
  });

  it('then moves every masterauth, then drops the old password everywhere', () => {
    expect(planRotation(NEW, new Map([node('a', [OLD, NEW], NEW), node('b', [OLD, NEW], OLD)]))).toEqual({
      phase: 'masterauth',
      steps: [{ kind: 'set-masterauth', node: 'b' }],
    });
    expect(planRotation(NEW, new Map([node('a', [OLD, NEW], NEW), node('b', [NEW], NEW)]))).toEqual({
      phase: 'drop',
      steps: [{ kind: 'drop-password', node: 'a', hash: OLD }],
    });
    expect(planRotation(NEW, new Map([node('a', [NEW], NEW)]))).toEqual({ phase: 'done' });
  });

  it('keeps the old password while a node has not answered: it may still know only the old one', () => {
    const plan = planRotation(NEW, new Map<string, NodeAuth | undefined>([node('a', [OLD, NEW], NEW), ['b', undefined]]));
    expect(plan).toEqual({ phase: 'wait', unreachable: ['b'] });
  });

  it('carries hashes only, never a password', () => {
    const plan = planRotation(NEW, new Map([node('a', [OLD, NEW], NEW)]));
    expect(JSON.stringify(plan)).not.toMatch(/"(old|new)"/);
  });
});
