// Kubernetes resource quantities (`1`, `200m`, `1000Mi`, `1Gi`, `0.5`, `1e3`), unsigned since no
// resource here can be negative.

/** The CRD pattern for the string form; whole numbers are also accepted (int-or-string). */
export const QUANTITY_PATTERN =
  '^(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const quantityRegex = new RegExp(QUANTITY_PATTERN);

const SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export type Quantity = string | number;

export function isQuantity(value: unknown): value is Quantity {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0;
  return typeof value === 'string' && quantityRegex.test(value);
}

/** The quantity's value in base units (cores, bytes): `200m` -> 0.2, `1Gi` -> 1073741824. */
export function parseQuantity(value: Quantity): number {
  if (!isQuantity(value)) throw new Error(`invalid quantity ${JSON.stringify(value)}`);
  if (typeof value === 'number') return value;
  const match = /^([0-9.]+)(.*)$/.exec(value)!;
  const [, number, suffix] = match as unknown as [string, string, string];
  if (/^[eE]/.test(suffix)) return Number(number) * 10 ** Number(suffix.slice(1));
  return Number(number) * SUFFIXES[suffix]!;
}
