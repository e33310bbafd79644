import { describe, expect, it } from 'vitest';
import { parseAclList, planAcl, setUserArgs, splitRules } from '../../shared/redis/planner/acl.js';

const table = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('ACL planning', () => {
  it('reads ACL LIST lines by user name', () => {
    const t = parseAclList(['user default on nopass ~* &* +@all', 'user app on #ab12 ~app:* resetchannels -@all +get']);
    expect([...t]).toEqual([
      ['default', 'on nopass ~* &* +@all'],
      ['app', 'on #ab12 ~app:* resetchannels -@all +get'],
    ]);
  });

  it('sets a missing user and one whose rules differ, leaves an equal one alone', () => {
    const desired = table({ a: 'on ~a:* +get', b: 'on ~b:* +get', c: 'on ~c:* +set' });
    const observed = table({ default: 'on nopass', a: 'on ~a:* +get', c: 'on ~c:* +get' });
    expect(planAcl(desired, observed)).toEqual([
      { kind: 'set', user: 'b' },
      { kind: 'set', user: 'c' },
    ]);
  });

  it('deletes users the spec no longer lists, never default nor a user whose rules Redis refused', () => {
    const observed = table({ default: 'on nopass', gone: 'on', bad: 'on ~x +get' });
    expect(planAcl(new Map(), observed, new Set(['bad']))).toEqual([{ kind: 'delete', user: 'gone' }]);
  });

  it('splits rules on spaces but keeps a selector in one argument', () => {
    expect(splitRules('on  ~app:* +@all (~log:* +get) -@dangerous')).toEqual(['on', '~app:*', '+@all', '(~log:* +get)', '-@dangerous']);
  });

  it('defines a user from nothing: reset, then every password, then the rules', () => {
    expect(setUserArgs({ rules: 'on ~app:* +@all', passwords: ['old', 'new'] })).toEqual([
      'reset',
      '>old',
      '>new',
      'on',
      '~app:*',
      '+@all',
    ]);
  });
});
