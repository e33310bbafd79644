import { describe, expect, it } from 'vitest';
import { ClusterQueue } from '../../functions/reconcile/handler.js';
import type { PassResult } from '../../functions/reconcile/reconcile.js';

const ref = { namespace: 'ns', name: 'rc' };
const other = { namespace: 'ns', name: 'other' };

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('ClusterQueue', () => {
  it('runs one pass per cluster at a time and folds the events that wait into one more pass', async () => {
    const queue = new ClusterQueue();
    const first = gate();
    const starts: string[] = [];
    let running = 0;
    let most = 0;
    const pass = (label: string, wait?: Promise<void>) => async (): Promise<PassResult> => {
      starts.push(label);
      running++;
      most = Math.max(most, running);
      await wait;
      running--;
      return { kind: 'done', phase: label };
    };
    const a = queue.run(ref, pass('a', first.opened));
    const b = queue.run(ref, pass('b'));
    const c = queue.run(ref, pass('c'));
    const d = queue.run(ref, pass('d'));
    const elsewhere = queue.run(other, pass('x'));
    expect(queue.isBusy(ref)).toBe(true);
    await elsewhere;
    expect(starts).toEqual(['a', 'x']);
    first.open();
    const results = await Promise.all([a, b, c, d]);
    expect(starts).toEqual(['a', 'x', 'b']);
    expect(results.map((r) => (r.kind === 'done' ? r.phase : r.kind))).toEqual(['a', 'b', 'b', 'b']);
    expect(most).toBeLessThanOrEqual(2);
    expect(queue.isBusy(ref)).toBe(false);
  });

  it('a failed pass does not block the next one', async () => {
    const queue = new ClusterQueue();
    const failing = queue.run(ref, async () => {
      throw new Error('boom');
    });
    const next = queue.run(ref, async () => ({ kind: 'gone' }) as PassResult);
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toEqual({ kind: 'gone' });
  });
});
