// The runs summed up per operation and fault: the table `npm run chaos` prints and
// docs/reliability.md keeps.
import { passed, type LedgerCounts, type RunResult } from './run.js';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const failed = (c: LedgerCounts) => sum(Object.values(c.failures));

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
}

const seconds = (ms: number) => (Number.isNaN(ms) ? 'never' : `${(ms / 1000).toFixed(1)} s`);

export function summaryTable(results: RunResult[]): string {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) groups.set(`${r.operation} | ${r.fault}`, [...(groups.get(`${r.operation} | ${r.fault}`) ?? []), r]);
  const head = [
    "| operation | fault | runs | acknowledged | lost | lost in a crashed master's window | lost with WAIT 1 | failed commands | recovery median | recovery worst | failing seeds |",
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const rows = [...groups].map(([key, rs]) => {
    const recoveries = rs.map((r) => r.recoveryMs);
    const worst = recoveries.some(Number.isNaN) ? NaN : Math.max(...recoveries);
    const cells = [
      key,
      rs.length,
      sum(rs.map((r) => r.plain.acknowledged + r.waited.acknowledged)),
      sum(rs.map((r) => r.plain.lost)),
      sum(rs.map((r) => r.plain.lostInWindow)),
      sum(rs.map((r) => r.waited.lost + r.waited.lostInWindow)),
      sum(rs.map((r) => failed(r.plain) + failed(r.waited))),
      seconds(median(recoveries)),
      seconds(worst),
      rs
        .filter((r) => !passed(r))
        .map((r) => r.seed)
        .join(' ') || '-',
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [...head, ...rows].join('\n');
}

/**
 * The same runs as a grid, an operation per row and a fault per column: each cell the recovery
 * time (median over its runs), with the failing seeds where a run failed.
 */
export function matrixTable(results: RunResult[]): string {
  const operations = [...new Set(results.map((r) => r.operation))];
  const faults = [...new Set(results.map((r) => r.fault))];
  const cell = (op: string, fault: string): string => {
    const rs = results.filter((r) => r.operation === op && r.fault === fault);
    if (rs.length === 0) return '';
    const failing = rs.filter((r) => !passed(r)).map((r) => r.seed);
    const time = seconds(median(rs.map((r) => r.recoveryMs)));
    return failing.length === 0 ? time : `**failed** (${failing.join(' ')}), ${time}`;
  };
  return [
    `| operation | ${faults.join(' | ')} |`,
    `|---|${faults.map(() => '---').join('|')}|`,
    ...operations.map((op) => `| ${op} | ${faults.map((f) => cell(op, f)).join(' | ')} |`),
  ].join('\n');
}

/** One line per run: what was hit, and every invariant that did not hold. */
export function runLine(r: RunResult): string {
  const verdict = passed(r) ? 'ok' : 'FAILED';
  const failures = JSON.stringify({
    ...r.plain.failures,
    ...Object.fromEntries(Object.entries(r.waited.failures).map(([k, v]) => [`wait:${k}`, v])),
  });
  return [
    `${verdict} seed ${r.seed} ${r.operation} + ${r.fault} (${r.injected.target}): recovered in ${seconds(r.recoveryMs)},`,
    `acknowledged ${r.plain.acknowledged}+${r.waited.acknowledged} (WAIT 1), lost ${r.plain.lost} (+${r.plain.lostInWindow} in window), lost with WAIT 1 ${r.waited.lost + r.waited.lostInWindow}, failures ${failures}`,
    ...r.violations.map((v) => `  ${v}`),
    ...(r.plain.lost + r.plain.lostInWindow > 0
      ? [`  lost writes acknowledged at ${r.plain.lostAckedAt.map((ms) => `${ms} ms`).join(', ')} from the fault`]
      : []),
  ].join(' ');
}
