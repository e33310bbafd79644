import { describe, expect, it } from 'vitest';
import { validateSpec, type DefaultedSpec, type RedisClusterSpec } from '../../shared/api/index.js';
import { claimsStep, type ClaimInfo } from '../../functions/reconcile/claims.js';
import type { PassMemory } from '../../functions/reconcile/observe.js';

const specOf = (spec: RedisClusterSpec): DefaultedSpec => {
  const r = validateSpec(spec);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
};
const pass = (round = 0, taken: string[] = []) => ({ round, taken: new Set(taken), lease: false, canEmit: true }) as unknown as PassMemory;
const persistent = (size: string) => specOf({ maxMemory: '512mb', persistence: { enabled: true, size } });
const claim = (name: string, storage: string, storageClass = 'standard', expandable?: boolean): ClaimInfo => ({
  name,
  ordinal: Number(/-(\d+)-data$/.exec(name)![1]),
  storage,
  storageClass,
  ...(expandable === undefined ? {} : { expandable }),
});

describe('which claims grow', () => {
  it('grows the claims smaller than persistence.size whose class allows it, by value', () => {
    const claims = [claim('c-0-data', '1Gi', 'standard', true), claim('c-1-data', '2Gi'), claim('c-2-data', '1024Mi', 'fixed', false)];
    expect(claimsStep(persistent('2048Mi'), claims, pass())).toEqual({
      kind: 'grow-claims',
      size: '2048Mi',
      grow: ['c-0-data'],
      refused: [{ claim: 'c-2-data', storageClass: 'fixed' }],
    });
  });

  it('does nothing when every claim is as large, without persistence, or once taken', () => {
    const claims = [claim('c-0-data', '1Gi')];
    expect(claimsStep(persistent('1024Mi'), claims, pass())).toBeUndefined();
    expect(claimsStep(specOf({ maxMemory: '512mb', persistence: { size: '5Gi' } }), claims, pass())).toBeUndefined();
    expect(claimsStep(persistent('2Gi'), [claim('c-0-data', '1Gi', 'standard', true)], pass(0, ['grow-claims']))).toBeUndefined();
  });

  it('says a refusal in the first round of a pass only', () => {
    const refused = [claim('c-0-data', '1Gi', 'fixed', false)];
    expect(claimsStep(persistent('2Gi'), refused, pass(0))?.refused).toEqual([{ claim: 'c-0-data', storageClass: 'fixed' }]);
    expect(claimsStep(persistent('2Gi'), refused, pass(1))).toBeUndefined();
  });
});
