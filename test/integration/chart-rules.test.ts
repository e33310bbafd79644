// The chart's autoscaling rules and dashboard, checked with the real tools: promtool (check + unit
// tests of every alert) and a real prometheus-redis-exporter in front of real redis-servers, whose
// /metrics must carry every metric name the rules and the dashboard query.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { WEBHOOK_PATH } from '../../functions/alert-bridge/handler.js';
import { startRedisNodes, type Harness } from '../helpers/redis-harness.js';
import { freePort } from '../helpers/ports.js';

const CHART = path.resolve(import.meta.dirname, '../../charts/redis-operator');
const RULE_FILE = path.join(CHART, 'files/redis-cluster-rules.yaml');
const RULE_TESTS = path.join(CHART, 'tests/redis-cluster-rules.test.yaml');
const ALERTS = ['HighMemoryUsage', 'HighThroughput', 'LowMemoryUsage', 'LowThroughput'];

interface Rule {
  /** Set on the alerts; the recording rule has `record` instead. */
  alert: string;
  record?: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const chartFile = (rel: string): string => readFileSync(path.join(CHART, rel), 'utf8');
const allRulesOf = (text: string): Rule[] => (parse(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const rulesOf = (text: string): Rule[] => allRulesOf(text).filter((r) => r.alert);
/** The series the rule file records, and the one every throughput alert reads. */
const CLIENT_COMMANDS = 'namespace_redis_cluster_pod:redis_client_commands:rate';
const values = parse(chartFile('values.yaml'));
const thresholds = values.redisOperator.metrics.prometheusRule.rules as Record<string, string | number>;

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * Helm's rendering of templates/prometheusrule.yaml, done on its own `replace` pipeline: each
 * `replace "OLD" "NEW"` or `replace "OLD" (printf "FMT" [(toString] $r.KEY[)])` in order.
 */
function renderRules(settings: Record<string, string | number>): string {
  const template = chartFile('templates/prometheusrule.yaml');
  let text = readFileSync(RULE_FILE, 'utf8');
  const unquote = (s: string): string => JSON.parse(`"${s}"`) as string;
  const pairs = [
    ...template.matchAll(
      /\|\s*replace "((?:[^"\\]|\\.)*)" (?:"((?:[^"\\]|\\.)*)"|\(printf "((?:[^"\\]|\\.)*)" (?:\(toString )?\$r\.(\w+)\)?\))/g,
    ),
  ];
  expect(pairs.length).toBeGreaterThan(0);
  for (const [, from, literal, format, key] of pairs) {
    let to: string;
    if (literal !== undefined) to = unquote(literal);
    else {
      if (!(key! in settings)) throw new Error(`templates/prometheusrule.yaml uses rules.${key}, which values.yaml does not set`);
      const value = String(settings[key!]);
      to = unquote(format!).replace(/%v|%q/, (verb) => (verb === '%q' ? JSON.stringify(value) : value));
    }
    const old = unquote(from!);
    if (!text.includes(old))
      throw new Error(`templates/prometheusrule.yaml replaces ${JSON.stringify(old)}, which the rule file does not contain`);
    text = text.split(old).join(to);
  }
  return text;
}

/**
 * Each alert compares with its own threshold; a Low* alert is held back by the other dimension's
 * High* condition (a High* threshold inside it).
 */
function expectThresholds(byName: Record<string, Rule>, t: Record<string, string | number>): void {
  const ends = (s: string) => new RegExp(`${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
  const comparisons = (expr: string) => [...expr.matchAll(/[<>] [0-9.e+]+(?=\s*(?:\)|$))/g)].map((m) => m[0]).filter((c) => c !== '> 0'); // '> 0': the maxmemory filter
  expect(byName.HighMemoryUsage!.expr).toMatch(ends(`> ${t.memoryThreshold}`));
  expect(byName.HighThroughput!.expr).toMatch(ends(`> ${t.throughputThreshold}`));
  expect(comparisons(byName.LowMemoryUsage!.expr)).toEqual([`< ${t.lowMemoryThreshold}`, `> ${t.throughputThreshold}`]);
  expect(comparisons(byName.LowThroughput!.expr)).toEqual([`< ${t.lowThroughputThreshold}`, `> ${t.memoryThreshold}`]);
  for (const low of [byName.LowMemoryUsage!, byName.LowThroughput!]) expect(low.expr).toContain('unless on (namespace, redis_cluster)');
}

/** A real exporter for one node; retried on another port if it cannot bind. */
async function startExporter(redisPort: number, running: ChildProcess[]): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      'prometheus-redis-exporter',
      [`-redis.addr=redis://127.0.0.1:${redisPort}`, `-web.listen-address=127.0.0.1:${port}`],
      { stdio: 'ignore' },
    );
    running.push(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    const url = `http://127.0.0.1:${port}/metrics`;
    for (let i = 0; i < 50 && !gone; i++) {
      const body = await fetch(url).then(
        (r) => (r.ok ? r.text() : undefined),
        () => undefined,
      );
      if (body?.includes('redis_up 1')) return body;
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGKILL');
    await exited;
  }
  throw new Error(`prometheus-redis-exporter did not serve metrics for redis port ${redisPort}`);
}

/** The queries of the dashboard: every panel target and template variable. */
function dashboardQueries(): string[] {
  const dash = JSON.parse(chartFile('files/dashboard.json')) as {
    panels: { targets: { expr: string }[] }[];
    templating: { list: { query?: unknown }[] };
  };
  const panelExprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const variableExprs = dash.templating.list.flatMap((v) =>
    typeof v.query === 'object' && v.query ? [(v.query as { query: string }).query] : [],
  );
  return [...panelExprs, ...variableExprs];
}

/** Labels the PodMonitor adds at scrape time: they name no metric. */
function scrapeLabels(): Set<string> {
  return new Set([...chartFile('templates/podmonitor.yaml').matchAll(/targetLabel: (\w+)/g)].map((m) => m[1]!));
}

function metricNamesIn(exprs: string[]): Set<string> {
  const added = scrapeLabels();
  // Recorded series (level:metric:operations) come from the rules, not from the exporter.
  const names = exprs.flatMap((e) => [...e.replace(/\b\w+:\w+:\w+\b/g, '').matchAll(/\bredis_[a-z_]+\b/g)].map((m) => m[0]));
  return new Set(names.filter((n) => !added.has(n)));
}

describe('the autoscaling rule file', () => {
  it('passes promtool check rules', () => {
    const r = promtool('check', 'rules', RULE_FILE);
    expect(r.out).toContain('SUCCESS: 5 rules found');
    expect(r.status).toBe(0);
  });

  it('passes its promtool unit tests: each alert fires above/below its threshold with the cluster labels and scale_count, and not otherwise', () => {
    const r = promtool('test', 'rules', RULE_TESTS);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test);
    for (const alert of ALERTS) {
      expect(
        cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0),
        `${alert} stays silent in a test`,
      ).toBe(true);
    }
  });

  it('holds the four alerts with the contract thresholds of values.yaml, per cluster over masters, with redis_cluster, namespace and scale_count', () => {
    const rules = rulesOf(readFileSync(RULE_FILE, 'utf8'));
    expect(rules.map((r) => r.alert).sort()).toEqual([...ALERTS].sort());
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(thresholds).toMatchObject({
      memoryThreshold: 0.8,
      throughputThreshold: 1000,
      lowMemoryThreshold: 0.3,
      lowThroughputThreshold: 100,
    });
    expectThresholds(byName, thresholds);
    for (const rule of rules) {
      expect(rule.expr).toMatch(/(?:sum|avg) by \(namespace, redis_cluster\)/);
      expect(rule.expr).toContain('redis_instance_info{role="master"}');
      expect(rule.annotations.scale_count).toBe(String(thresholds.scaleCount));
    }
  });

  it("compares throughput per master: every rate is averaged over the cluster's masters, never summed", () => {
    const rules = Object.fromEntries(rulesOf(readFileSync(RULE_FILE, 'utf8')).map((r) => [r.alert, r]));
    const aggregations = (expr: string) =>
      [...expr.matchAll(new RegExp(`(\\w+) by \\(namespace, redis_cluster\\) \\(\\s*${CLIENT_COMMANDS}`, 'g'))].map((m) => m[1]);
    expect(aggregations(rules.HighThroughput!.expr)).toEqual(['avg']);
    expect(aggregations(rules.LowThroughput!.expr)).toEqual(['avg']);
    expect(aggregations(rules.LowMemoryUsage!.expr)).toEqual(['avg']);
    expect(aggregations(rules.HighMemoryUsage!.expr)).toEqual([]);
  });

  it('is what the PrometheusRule template renders: defaults give the file unchanged, other values reach every expression', () => {
    expect(renderRules(thresholds)).toBe(readFileSync(RULE_FILE, 'utf8'));

    const dir = mkdtempSync(path.join(tmpdir(), 'chart-rules-'));
    try {
      const custom = {
        ...thresholds,
        memoryThreshold: 0.95,
        throughputThreshold: 5000,
        lowMemoryThreshold: 0.05,
        lowThroughputThreshold: 10,
        highFor: '2m',
        lowFor: '30m',
        rateWindow: '3m',
        scaleCount: 2,
      };
      const rendered = renderRules(custom);
      const rules = Object.fromEntries(rulesOf(rendered).map((r) => [r.alert, r]));
      expectThresholds(rules, custom);
      const recorded = allRulesOf(rendered).find((r) => r.record === CLIENT_COMMANDS)!;
      expect(recorded.expr).toContain('[3m]');
      expect(recorded.expr).not.toContain('[5m]');
      expect([rules.HighMemoryUsage!.for, rules.HighThroughput!.for, rules.LowMemoryUsage!.for, rules.LowThroughput!.for]).toEqual([
        '2m',
        '2m',
        '30m',
        '30m',
      ]);
      for (const r of Object.values(rules)) expect(r.annotations.scale_count).toBe('2');

      const ruleFile = path.join(dir, 'rules.yaml');
      writeFileSync(ruleFile, rendered);
      const check = promtool('check', 'rules', ruleFile);
      expect(check.out).toContain('SUCCESS: 5 rules found');
      // The unit tests written for the defaults now fail exactly where the thresholds moved.
      const tests = readFileSync(RULE_TESTS, 'utf8').replace('../files/redis-cluster-rules.yaml', ruleFile);
      writeFileSync(path.join(dir, 'tests.yaml'), tests);
      const run = promtool('test', 'rules', path.join(dir, 'tests.yaml'));
      expect(run.status).not.toBe(0);
      for (const alert of ALERTS) expect(run.out).toContain(`alertname: ${alert}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dashboard', () => {
  it('every panel query is valid PromQL (promtool parses each as a recording rule, Grafana variables filled in)', () => {
    const dash = JSON.parse(chartFile('files/dashboard.json')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    const filled = exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', '.*').replaceAll('$cluster', '.*'));
    for (const e of filled) expect(e, 'a Grafana variable left unfilled').not.toContain('$');
    const dir = mkdtempSync(path.join(tmpdir(), 'chart-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yaml');
      writeFileSync(
        file,
        stringify({ groups: [{ name: 'dashboard', rules: filled.map((expr, i) => ({ record: `dashboard:panel_${i}`, expr })) }] }),
      );
      const r = promtool('check', 'rules', file);
      expect(r.out).toContain(`SUCCESS: ${filled.length} rules found`);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the manifests agree with the rest of the project', () => {
  it('the PodMonitor turns the Pod labels into redis_cluster, namespace and pod, the labels the rules group and join by', () => {
    const podMonitor = chartFile('templates/podmonitor.yaml');
    expect(podMonitor).toMatch(/sourceLabels: \[__meta_kubernetes_pod_label_redis_redis_cluster\]\s+targetLabel: redis_cluster/);
    expect(podMonitor).toMatch(/sourceLabels: \[__meta_kubernetes_namespace\]\s+targetLabel: namespace/);
    expect(podMonitor).toMatch(/sourceLabels: \[__meta_kubernetes_pod_name\]\s+targetLabel: pod/);
    expect(podMonitor).toMatch(/sourceLabels: \[__meta_kubernetes_pod_label_redis_redis_role\]\s+targetLabel: redis_role/);
    expect(podMonitor).toContain('- port: metrics');
    expect(readFileSync(path.resolve(CHART, '../../functions/reconcile/resources.ts'), 'utf8')).toContain("name: 'metrics'");
  });

  it('the AlertmanagerConfig posts to the alert-bridge path with the token Secret the bridge reads', () => {
    const am = values.redisOperator.metrics.alertmanagerConfig;
    const services = readFileSync(path.resolve(CHART, '../../knative/services.yaml'), 'utf8');
    const bridge = services
      .split(/^---$/m)
      .map((d) => parse(d))
      .find((d) => d?.metadata?.name === 'alert-bridge');
    expect(new URL(am.webhookUrl).pathname).toBe(WEBHOOK_PATH);
    expect(new URL(am.webhookUrl).hostname.split('.').slice(0, 2)).toEqual([bridge.metadata.name, bridge.metadata.namespace]);
    const tokenRef = bridge.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'WEBHOOK_TOKEN').valueFrom
      .secretKeyRef;
    expect(am.tokenSecret).toMatchObject({ name: tokenRef.name, key: tokenRef.key });
    const template = chartFile('templates/alertmanager-config.yaml');
    expect(template).toContain(`value: ${ALERTS.join('|')}`);
    expect(template).toContain('groupBy: [namespace, redis_cluster, alertname]');
  });
});

describe('metric names against a real prometheus-redis-exporter', () => {
  let harness: Harness | undefined;
  const exporters: ChildProcess[] = [];
  const scraped: string[] = [];

  beforeAll(async () => {
    harness = await startRedisNodes(2);
    const [master, replica] = [harness.client(0), harness.client(1)];
    try {
      await master.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await master.config('SET', 'maxmemory', '64mb');
      await replica.config('SET', 'maxmemory', '64mb');
      await replica.call('CLUSTER', 'MEET', harness.nodes[0]!.ip, String(harness.nodes[0]!.port));
      const masterId = String(await master.call('CLUSTER', 'MYID'));
      for (let i = 0; ; i++) {
        const known = String(await replica.call('CLUSTER', 'NODES')).includes(masterId);
        if (known) break;
        if (i > 100) throw new Error('the replica never learnt of the master');
        await new Promise((r) => setTimeout(r, 100));
      }
      await replica.call('CLUSTER', 'REPLICATE', masterId);
      for (let i = 0; ; i++) {
        if (String(await master.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) break;
        if (i > 100) throw new Error('the master never reached cluster_state:ok');
        await new Promise((r) => setTimeout(r, 100));
      }
      for (let i = 0; i < 50; i++) await master.set(`{k}${i}`, `value-${i}`);
      for (let i = 0; ; i++) {
        if ((await replica.info('replication')).includes('master_link_status:up')) break;
        if (i > 100) throw new Error('the replica never synced');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await replica.dbsize()).toBe(50);
    } finally {
      master.disconnect();
      replica.disconnect();
    }
    for (const node of harness.nodes) scraped.push(await startExporter(node.port, exporters));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(
      exporters.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    await harness?.stop();
  });

  const namesIn = (body: string): Set<string> =>
    new Set(
      body
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/[{ ]/)[0]!),
    );

  it('every metric the rules and the dashboard use is exported', () => {
    const ruleExprs = allRulesOf(readFileSync(RULE_FILE, 'utf8')).map((r) => r.expr);
    const used = metricNamesIn([...ruleExprs, ...dashboardQueries()]);
    expect([...used]).toEqual(
      expect.arrayContaining([
        'redis_memory_used_bytes',
        'redis_memory_max_bytes',
        'redis_commands_total',
        'redis_commands_processed_total',
        'redis_instance_info',
      ]),
    );
    for (const body of scraped) {
      const exported = namesIn(body);
      const missing = [...used].filter((n) => !exported.has(n));
      expect(missing, 'metrics queried but not exported').toEqual([]);
    }
  });

  it("the recorded client commands leave out every command the cluster's own traffic sent, and keep the clients'", () => {
    const recorded = allRulesOf(readFileSync(RULE_FILE, 'utf8')).find((r) => r.record === CLIENT_COMMANDS)!;
    const [, pattern] = /cmd!~"((?:[^"\\]|\\.)*)"/.exec(recorded.expr)!;
    // PromQL unescapes the string; Prometheus anchors the regular expression at both ends.
    const excluded = new RegExp(`^(?:${JSON.parse(`"${pattern}"`) as string})$`);
    const cmds = (body: string) => [...body.matchAll(/^redis_commands_total\{cmd="([^"]+)"\}/gm)].map((m) => m[1]!);
    // The master took the harness's CLUSTER/CONFIG calls, its replica's REPLCONF/PSYNC, the
    // exporter's INFO/CONFIG GET/CLIENT SETNAME, and 50 SETs from a client.
    const master = cmds(scraped[0]!);
    expect(master).toEqual(expect.arrayContaining(['set', 'psync', 'replconf', 'info']));
    expect(master.filter((c) => !excluded.test(c))).toEqual(['set']);
    for (const c of ['migrate', 'restore-asking', 'asking', 'cluster|setslot', 'cluster|getkeysinslot', 'cluster'])
      expect(excluded.test(c), c).toBe(true);
    for (const c of ['get', 'set', 'mget', 'hset', 'exec', 'eval', 'wait', 'clusterx']) expect(excluded.test(c), c).toBe(false);
  });

  it('the roles the rules and the dashboard count are the ones the exporter reports (master, slave)', () => {
    const info = (body: string) => body.split('\n').find((l) => l.startsWith('redis_instance_info{'))!;
    expect(info(scraped[0]!)).toContain('role="master"');
    expect(info(scraped[1]!)).toContain('role="slave"');
    const roles = new Set(
      [...[...rulesOf(readFileSync(RULE_FILE, 'utf8')).map((r) => r.expr), ...dashboardQueries()].join('\n').matchAll(/role="(\w+)"/g)].map(
        (m) => m[1],
      ),
    );
    expect([...roles].sort()).toEqual(['master', 'slave']);
    // The dashboard's masters and replicas panels each count one of the two roles.
    const dash = JSON.parse(chartFile('files/dashboard.json')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const panel = (title: string) => dash.panels.find((p) => p.title === title)!.targets[0]!.expr;
    expect(panel('Masters')).toMatch(/^count by \(namespace, redis_cluster\) \(redis_instance_info\{.*role="master"\}\)$/);
    expect(panel('Replicas')).toMatch(/^count by \(namespace, redis_cluster\) \(redis_instance_info\{.*role="slave"\}\)$/);
    // maxmemory as set, so the memory ratio of the rules has a denominator.
    expect(scraped[0]).toMatch(/^redis_memory_max_bytes 6\.7108864e\+07$/m);
    expect(scraped[0]).toMatch(/^redis_db_keys\{db="db0"\} 50$/m);
  });
});
