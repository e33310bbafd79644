import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  clusterCondition,
  CONDITION_TYPES,
  CONDITIONS,
  EVENT_REASONS,
  type ConditionType,
  type EventReason,
} from '../../shared/api/conditions.js';
import { conditionSchema } from '../../shared/api/status.js';
import { conditionsSectionOf, renderConditionsSection, SECTION_BEGIN, SECTION_END } from '../../scripts/gen/conditions-doc.js';

const conditionTypes = Object.keys(CONDITIONS) as ConditionType[];
const eventReasons = Object.keys(EVENT_REASONS) as EventReason[];
const reasonsOf = (type: ConditionType) => Object.entries(CONDITIONS[type].reasons) as [string, { status: string; description: string }][];

describe('the condition catalog', () => {
  it('names every condition type the operator sets', () => {
    expect(conditionTypes).toEqual([
      'Ready',
      'Progressing',
      'Degraded',
      'SlotsAssigned',
      'Resharding',
      'RollingUpdate',
      'DataLoss',
      'ClaimsResized',
      'AclApplied',
    ]);
    for (const type of conditionTypes) expect(CONDITION_TYPES[type]).toBe(type);
  });

  it('every type and reason is one the status schema accepts', () => {
    for (const type of conditionTypes) {
      for (const [reason] of reasonsOf(type)) {
        const parsed = conditionSchema.safeParse({
          ...clusterCondition(type, reason as never, 'm', 1),
          lastTransitionTime: '2026-01-01T00:00:00Z',
        });
        expect(parsed.success, `${type}/${reason}`).toBe(true);
      }
    }
  });

  it('a blocker makes Ready and Progressing False; work under way makes Progressing True', () => {
    for (const reason of ['InvalidSpec', 'SecretMissing', 'Unschedulable', 'AllNodesLost'] as const) {
      expect(CONDITIONS.Ready.reasons[reason].status).toBe('False');
      expect(CONDITIONS.Progressing.reasons[reason].status).toBe('False');
      expect(EVENT_REASONS[reason].type).toBe('Warning');
    }
    for (const phase of ['Resharding', 'Scaling', 'Healing', 'Degraded'] as const) {
      expect(CONDITIONS.Ready.reasons[phase].status).toBe('False');
      expect(CONDITIONS.Progressing.reasons[phase].status).toBe('True');
    }
  });

  it('has a one-line description for every type, reason and Event reason', () => {
    const descriptions = [
      ...conditionTypes.flatMap((t) => [CONDITIONS[t].description, ...reasonsOf(t).map(([, r]) => r.description)]),
      ...eventReasons.map((r) => EVENT_REASONS[r].description),
    ];
    for (const d of descriptions) expect(d).toMatch(/^\S[^\n|]*\S$/);
  });

  it('Event reasons are CamelCase words, each Normal or Warning', () => {
    for (const reason of eventReasons) {
      expect(reason).toMatch(/^[A-Z][A-Za-z]*$/);
      expect(['Normal', 'Warning']).toContain(EVENT_REASONS[reason].type);
    }
  });
});

describe('clusterCondition', () => {
  it('takes the status from the reason', () => {
    expect(clusterCondition('Ready', 'ClusterReady', 'ok', 3)).toEqual({
      type: 'Ready',
      status: 'True',
      reason: 'ClusterReady',
      message: 'ok',
      observedGeneration: 3,
    });
    expect(clusterCondition('Ready', 'Creating', 'm', 1).status).toBe('False');
    expect(clusterCondition('Progressing', 'Creating', 'm', 1).status).toBe('True');
    expect(clusterCondition('Progressing', 'Reconciled', 'm', 1).status).toBe('False');
    expect(clusterCondition('SlotsAssigned', 'SlotsUncovered', 'm', 1).status).toBe('False');
    expect(clusterCondition('Resharding', 'Requested', 'm', 1).status).toBe('True');
    expect(clusterCondition('Resharding', 'ReshardCompleted', 'm', 1).status).toBe('False');
  });

  it('refuses, at compile time, a misspelt reason or one of another type', () => {
    // @ts-expect-error: not a reason of any type
    expect(() => clusterCondition('Ready', 'ClusterRedy', 'm', 1)).toThrow();
    // @ts-expect-error: a Resharding reason, not a Ready one
    expect(() => clusterCondition('Ready', 'ScaleOut', 'm', 1)).toThrow();
    // @ts-expect-error: not a condition type
    expect(() => clusterCondition('Redy', 'ClusterReady', 'm', 1)).toThrow();
  });
});

describe('docs/api.md and the catalog', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/api.md', import.meta.url)), 'utf8');

  it('the conditions and Events section of the doc is the one generated from the catalog', () => {
    expect(doc).toContain(SECTION_BEGIN);
    expect(doc).toContain(SECTION_END);
    expect(conditionsSectionOf(doc), 'docs/api.md is stale: run npm run gen').toBe(renderConditionsSection());
  });

  it('lists every condition reason with its status, and every Event reason with its type and function', () => {
    const lines = renderConditionsSection().split('\n');
    for (const type of conditionTypes) {
      for (const [reason, r] of reasonsOf(type))
        expect(lines, `${type}/${reason}`).toContain(`| \`${type}\` | ${r.status} | \`${reason}\` | ${r.description} |`);
    }
    for (const reason of eventReasons) {
      const e = EVENT_REASONS[reason];
      expect(lines, reason).toContain(`| \`${reason}\` | ${e.type} | ${e.recordedBy} | ${e.description} |`);
    }
  });

  it('a doc without the markers is refused with a message', () => {
    expect(() => conditionsSectionOf('# The RedisCluster API\n')).toThrow(/markers/);
  });
});
