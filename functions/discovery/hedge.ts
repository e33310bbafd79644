// Asking one node after another without paying a full connect timeout per silent node: the next
// attempt starts when the previous one fails or has not answered within `hedgeMs`, and the first
// answer wins. A healthy first candidate costs one read; dead addresses that time out (a Pod gone
// with its IP) cost `hedgeMs` each instead of the connect timeout.

export interface HedgeOptions {
  /** How long an attempt runs alone before the next one starts beside it. */
  hedgeMs: number;
  /** No attempt starts after this time (epoch ms); those left are reported as not tried. */
  deadline?: number;
  now?: () => number;
}

export interface HedgeResult<T, C> {
  /** The first answer, and whose it is. */
  answer?: { candidate: C; value: T };
  /** Attempts that failed, and candidates never tried (deadline), in order. */
  failures: { candidate: C; error: string }[];
}

export function firstAnswer<T, C>(
  candidates: readonly C[],
  attempt: (candidate: C) => Promise<T>,
  opts: HedgeOptions,
): Promise<HedgeResult<T, C>> {
  const now = opts.now ?? Date.now;
  return new Promise((resolve) => {
    const failures: { candidate: C; error: string }[] = [];
    let next = 0;
    let running = 0;
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const finish = (answer?: { candidate: C; value: T }) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      resolve(answer ? { answer, failures } : { failures });
    };

    const startNext = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (done) return;
      if (next >= candidates.length || (opts.deadline !== undefined && now() > opts.deadline)) {
        if (running === 0) {
          for (; next < candidates.length; next++) failures.push({ candidate: candidates[next]!, error: 'not tried: time budget spent' });
          finish();
        }
        return;
      }
      const candidate = candidates[next++]!;
      running++;
      attempt(candidate).then(
        (value) => {
          running--;
          finish({ candidate, value });
        },
        (err: unknown) => {
          running--;
          if (done) return;
          failures.push({ candidate, error: err instanceof Error ? err.message : String(err) });
          startNext();
        },
      );
      if (next < candidates.length) timer = setTimeout(startNext, opts.hedgeMs);
    };

    if (candidates.length === 0) return finish();
    startNext();
  });
}
