import { describe, expect, it } from 'vitest';
import {
  labelSelectorString,
  matchesLabelSelector,
  matchesRequirements,
  parseLabelSelector,
  type LabelSelector,
} from '../../local/apiserver/selectors.js';

const redis = { app: 'redis', tier: 'cache' };
const matchesText = (labels: Record<string, string> | undefined, text: string) => matchesRequirements(labels, parseLabelSelector(text));

describe('structured label selectors', () => {
  it('matchLabels needs every pair', () => {
    expect(matchesLabelSelector(redis, { matchLabels: { app: 'redis' } }, 'nothing')).toBe(true);
    expect(matchesLabelSelector(redis, { matchLabels: { app: 'redis', tier: 'db' } }, 'nothing')).toBe(false);
    expect(matchesLabelSelector({ tier: 'cache' }, { matchLabels: { app: 'redis' } }, 'nothing')).toBe(false);
  });

  it('matchExpressions In, NotIn, Exists, DoesNotExist', () => {
    const sel = (operator: string, values?: string[]): LabelSelector => ({ matchExpressions: [{ key: 'tier', operator, values }] });
    expect(matchesLabelSelector(redis, sel('In', ['cache', 'db']), 'nothing')).toBe(true);
    expect(matchesLabelSelector(redis, sel('In', ['db']), 'nothing')).toBe(false);
    expect(matchesLabelSelector({ app: 'redis' }, sel('In', ['cache']), 'nothing')).toBe(false);
    expect(matchesLabelSelector(redis, sel('NotIn', ['db']), 'nothing')).toBe(true);
    expect(matchesLabelSelector(redis, sel('NotIn', ['cache']), 'nothing')).toBe(false);
    // NotIn holds for an object without the label, as in Kubernetes.
    expect(matchesLabelSelector({ app: 'redis' }, sel('NotIn', ['cache']), 'nothing')).toBe(true);
    expect(matchesLabelSelector(redis, sel('Exists'), 'nothing')).toBe(true);
    expect(matchesLabelSelector({ app: 'redis' }, sel('Exists'), 'nothing')).toBe(false);
    expect(matchesLabelSelector({ app: 'redis' }, sel('DoesNotExist'), 'nothing')).toBe(true);
    expect(matchesLabelSelector(redis, sel('DoesNotExist'), 'nothing')).toBe(false);
  });

  it('matchLabels and matchExpressions must all hold', () => {
    const sel: LabelSelector = { matchLabels: { app: 'redis' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] };
    expect(matchesLabelSelector(redis, sel, 'everything')).toBe(false);
    expect(matchesLabelSelector({ app: 'redis', tier: 'db' }, sel, 'everything')).toBe(true);
  });

  it('an absent selector means what the caller says; an empty one selects everything', () => {
    expect(matchesLabelSelector(redis, undefined, 'nothing')).toBe(false);
    expect(matchesLabelSelector(redis, null, 'nothing')).toBe(false);
    expect(matchesLabelSelector(redis, undefined, 'everything')).toBe(true);
    expect(matchesLabelSelector(redis, {}, 'nothing')).toBe(true);
    expect(matchesLabelSelector(undefined, {}, 'nothing')).toBe(true);
  });

  it('an unknown operator selects nothing, and has no string form', () => {
    const sel: LabelSelector = { matchExpressions: [{ key: 'tier', operator: 'Gt', values: ['1'] }] };
    expect(matchesLabelSelector(redis, sel, 'everything')).toBe(false);
    expect(() => labelSelectorString(sel)).toThrow(/unknown operator "Gt"/);
  });

  it('string form selects what the structured selector selects', () => {
    const sel: LabelSelector = {
      matchLabels: { app: 'redis' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['cache', 'db'] },
        { key: 'zone', operator: 'NotIn', values: ['z1'] },
        { key: 'shard', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    };
    const text = labelSelectorString(sel);
    expect(text).toBe('app=redis,tier in (cache,db),zone notin (z1),shard,!legacy');
    for (const labels of [
      { ...redis, shard: '1' },
      { ...redis, shard: '1', zone: 'z1' },
      { ...redis },
      { ...redis, shard: '1', legacy: 'y' },
    ]) {
      expect(matchesText(labels, text)).toBe(matchesLabelSelector(labels, sel, 'nothing'));
    }
    expect(labelSelectorString(undefined)).toBe('');
  });
});

describe('label selector strings', () => {
  it('an absent or blank labelSelector lists everything', () => {
    expect(parseLabelSelector(undefined)).toEqual([]);
    expect(parseLabelSelector(null)).toEqual([]);
    expect(parseLabelSelector('  ')).toEqual([]);
    expect(matchesText(undefined, '')).toBe(true);
  });

  it('=, == and != compare values (!= holds without the label)', () => {
    expect(matchesText(redis, 'app=redis')).toBe(true);
    expect(matchesText(redis, 'app==redis')).toBe(true);
    expect(matchesText(redis, 'app=memcached')).toBe(false);
    expect(matchesText(redis, 'app!=redis')).toBe(false);
    expect(matchesText(redis, 'app!=memcached')).toBe(true);
    expect(matchesText({ tier: 'cache' }, 'app!=redis')).toBe(true);
  });

  it('in, notin, key and !key', () => {
    expect(matchesText(redis, 'tier in (db, cache)')).toBe(true);
    expect(matchesText(redis, 'tier in (db)')).toBe(false);
    expect(matchesText(redis, 'tier notin (db)')).toBe(true);
    expect(matchesText(redis, 'tier notin (cache,db)')).toBe(false);
    expect(matchesText(redis, 'tier')).toBe(true);
    expect(matchesText(redis, 'zone')).toBe(false);
    expect(matchesText(redis, '!zone')).toBe(true);
    expect(matchesText(redis, '!tier')).toBe(false);
  });

  it('commas inside parentheses do not split requirements; all requirements hold', () => {
    expect(parseLabelSelector('app=redis,tier in (a,b),!zone')).toEqual([
      { key: 'app', op: 'in', values: ['redis'] },
      { key: 'tier', op: 'in', values: ['a', 'b'] },
      { key: 'zone', op: 'notexists' },
    ]);
    expect(matchesText(redis, 'app=redis,tier in (db)')).toBe(false);
  });

  it('refuses what it cannot parse, naming the selector', () => {
    expect(() => parseLabelSelector('app=redis,tier in cache')).toThrow(/invalid label selector "app=redis,tier in cache"/);
  });
});
