import { describe, expect, it } from 'vitest';
import { aclCondition } from '../../functions/reconcile/acl.js';

describe('the AclApplied condition', () => {
  it('names the user and quotes Redis when a rule is refused', () => {
    const c = aclCondition([{ user: 'bad', reason: "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command" }], [], 3);
    expect(c).toMatchObject({ type: 'AclApplied', status: 'False', reason: 'RuleRefused', observedGeneration: 3 });
    expect(c.message).toBe("user bad: ERR Error in ACL SETUSER modifier '+nosuch': Unknown command");
  });

  it('puts a missing Secret first: a person must create it', () => {
    const c = aclCondition(
      [{ user: 'bad', reason: 'x' }],
      [{ user: 'app', reason: 'Secret app-pw (spec.acl.users[0].passwordSecret.name) not found in namespace shop' }],
      1,
    );
    expect(c).toMatchObject({ status: 'False', reason: 'UserSecretMissing' });
    expect(c.message).toMatch(/^user app: Secret app-pw \(spec\.acl\.users\[0\]\.passwordSecret\.name\) not found/);
  });

  it('is True when everything is applied', () => {
    expect(aclCondition([], [], 1)).toMatchObject({ status: 'True', reason: 'UsersApplied' });
  });
});
