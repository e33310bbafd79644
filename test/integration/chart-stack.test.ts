// The one-command install: charts/redis-operator-stack is the operator chart plus kube-prometheus-
// stack. That dependency cannot be fetched here, so a stand-in chart of the same name takes its
// place in a copy, showing what the stack receives and that the operator's objects are unchanged.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../local/platform.js';
import { helm, helmTemplate } from '../../scripts/helm.js';

const STACK = join(REPO_ROOT, 'charts/redis-operator-stack');
let dir = '';

interface Obj {
  kind: string;
  apiVersion: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

function render(...args: string[]): Obj[] {
  const r = helm(['template', 'redis-operator', dir, '--namespace', 'redis-operator', ...args]);
  if (r.status !== 0) throw new Error(r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const key = (o: Obj): string => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

beforeAll(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'redis-operator-stack-')), 'redis-operator-stack');
  cpSync(STACK, dir, { recursive: true, dereference: true });
  const standIn = join(dir, 'charts/kube-prometheus-stack');
  mkdirSync(join(standIn, 'templates'), { recursive: true });
  writeFileSync(join(standIn, 'Chart.yaml'), 'apiVersion: v2\nname: kube-prometheus-stack\nversion: 45.0.0\n');
  writeFileSync(
    join(standIn, 'templates/values.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stand-in\ndata:\n  chart: {{ .Chart.Name }}\n  values: {{ toJson .Values | quote }}\n',
  );
});

afterAll(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

describe('charts/redis-operator-stack', () => {
  it('declares kube-prometheus-stack as prometheus, on prometheus.enabled; the operator chart declares nothing', () => {
    const chart = parse(readFileSync(join(STACK, 'Chart.yaml'), 'utf8'));
    expect(chart.dependencies).toEqual([
      expect.objectContaining({ name: 'kube-prometheus-stack', alias: 'prometheus', condition: 'prometheus.enabled' }),
    ]);
    expect(parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/Chart.yaml'), 'utf8')).dependencies).toBeUndefined();
  });

  it("renders the operator chart's objects and hands prometheus.* to the stack, named prometheus", () => {
    const objs = render();
    const standIn = objs.find((o) => o.metadata.name === 'stand-in')!;
    expect(standIn.data!.chart).toBe('prometheus');
    const given = JSON.parse(standIn.data!.values!);
    expect(given.prometheus.prometheusSpec).toMatchObject({
      ruleSelectorNilUsesHelmValues: false,
      podMonitorSelectorNilUsesHelmValues: false,
    });
    expect(given.grafana.sidecar.dashboards).toMatchObject({ enabled: true, label: 'grafana_dashboard' });
    const operator = parseAllDocuments(helmTemplate())
      .map((d) => d.toJS() as Obj | null)
      .filter((o): o is Obj => o !== null);
    expect(
      objs
        .filter((o) => o !== standIn)
        .map(key)
        .sort(),
    ).toEqual(operator.map(key).sort());
  });

  it('leaves the stack out with prometheus.enabled=false, and checks values with the same schema', () => {
    expect(render('--set', 'prometheus.enabled=false').some((o) => o.metadata.name === 'stand-in')).toBe(false);
    const r = helm(['template', 'x', dir, '--set', 'redisOperator.metrics.prometheusRule.rules.memoryThreshold=high']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('redisOperator.metrics.prometheusRule.rules.memoryThreshold');
  });
});
