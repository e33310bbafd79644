// Redis memory sizes, parsed the way Redis parses `maxmemory` (memtoull): digits and an optional
// unit, case-insensitive; k/m/g are powers of 1000, kb/mb/gb powers of 1024, b is bytes.

/**
 * A Redis memory size; the same pattern goes into the CRD. Digits are bounded per unit (up to
 * about 1 PB) so every size the pattern admits is an exact JavaScript integer.
 */
export const MEMORY_PATTERN = '^([0-9]{1,15}[bB]?|[0-9]{1,12}[kK][bB]?|[0-9]{1,9}[mM][bB]?|[0-9]{1,6}[gG][bB]?)$';
const memoryRegex = new RegExp(MEMORY_PATTERN);

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1024,
  m: 1000 ** 2,
  mb: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1024 ** 3,
};

/** `512mb` -> 536870912. Throws on anything Redis would refuse or that a JS number cannot hold. */
export function parseMemory(value: string): number {
  if (!memoryRegex.test(value)) {
    throw new Error(`invalid memory size "${value}": expected digits and an optional unit b, k, kb, m, mb, g or gb, at most about 1 PB`);
  }
  const digits = /^[0-9]+/.exec(value)![0];
  const unit = value.slice(digits.length).toLowerCase();
  return Number(digits) * UNITS[unit]!;
}
