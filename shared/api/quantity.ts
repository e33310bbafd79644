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

/** A quantity's exact value, coefficient * 10^exponent, with no trailing zero in the coefficient. */
export interface DecimalQuantity {
  coefficient: bigint;
  exponent: number;
}

const DECIMAL_EXPONENTS: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_EXPONENTS: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
// Kubernetes keeps a quantity's scale in an int32; far smaller bounds keep the BigInts small.
const MAX_EXPONENT = 1000;

export function normalizeDecimal(coefficient: bigint, exponent: number): DecimalQuantity {
  if (coefficient === 0n) return { coefficient, exponent: 0 };
  while (coefficient % 10n === 0n) {
    coefficient /= 10n;
    exponent += 1;
  }
  return { coefficient, exponent };
}

/** The exact value of a quantity, signed as Kubernetes' parser allows (`-1Gi`); throws when it is none. */
export function decimalQuantity(value: Quantity): DecimalQuantity {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`invalid quantity ${value}`);
    return normalizeDecimal(BigInt(value), 0);
  }
  const sign = value.startsWith('-') ? -1n : 1n;
  const text = /^[+-]/.test(value) ? value.slice(1) : value;
  if (!quantityRegex.test(text)) throw new Error(`invalid quantity ${JSON.stringify(value)}`);
  const [, whole = '', fraction = '', suffix = ''] = /^([0-9]*)(?:\.([0-9]*))?(.*)$/.exec(text)!;
  let coefficient = BigInt(`${whole}${fraction}` || '0') * sign;
  let exponent = -fraction.length;
  if (/^[eE]/.test(suffix)) exponent += Number(suffix.slice(1));
  else if (suffix in BINARY_EXPONENTS) coefficient *= 2n ** BigInt(BINARY_EXPONENTS[suffix]!);
  else exponent += DECIMAL_EXPONENTS[suffix]!;
  if (Math.abs(exponent) > MAX_EXPONENT) throw new Error(`quantity ${JSON.stringify(value)} is out of range`);
  return normalizeDecimal(coefficient, exponent);
}

/** The two coefficients over a common exponent. */
export function alignDecimals(a: DecimalQuantity, b: DecimalQuantity): [bigint, bigint, number] {
  const exponent = Math.min(a.exponent, b.exponent);
  return [a.coefficient * 10n ** BigInt(a.exponent - exponent), b.coefficient * 10n ** BigInt(b.exponent - exponent), exponent];
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b`, exactly (`1Gi` == `1073741824`). */
export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const [x, y] = alignDecimals(decimalQuantity(a), decimalQuantity(b));
  return x < y ? -1 : x > y ? 1 : 0;
}
