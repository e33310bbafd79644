// Command-line options of the benchmarks: `--name value` pairs and bare `--flag`s.

/** The value after `--name`, if given. */
export function argValue(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** `--name` as a positive integer, `fallback` when absent; throws naming the option when it is not one. */
export function positiveIntArg(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const raw = argValue(name, argv);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** Whether the bare `--name` is present. */
export function hasFlag(name: string, argv: readonly string[] = process.argv): boolean {
  return argv.includes(`--${name}`);
}
