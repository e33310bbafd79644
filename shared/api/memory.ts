// Redis memory sizes, parsed the way Redis parses `maxmemory` (memtoull): digits and an optional
// unit, case-insensitive; k/m/g are powers of 1000, kb/mb/gb powers of 1024, b is bytes.

/** A Redis memory size; the same pattern goes into the CRD. */
export const MEMORY_PATTERN = '^[0-9]+([bB]|[kKmMgG][bB]?)?$';
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
    throw new Error(`invalid memory size "${value}": expected digits and an optional unit b, k, kb, m, mb, g or gb`);
  }
  const digits = /^[0-9]+/.exec(value)![0];
  const unit = value.slice(digits.length).toLowerCase();
  const bytes = Number(digits) * UNITS[unit]!;
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid memory size "${value}": too large`);
  return bytes;
}

export function isMemorySize(value: string): boolean {
  try {
    parseMemory(value);
    return true;
  } catch {
    return false;
  }
}
