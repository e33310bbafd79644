// Kubernetes' CEL quantity library (k8s.io/apiserver/pkg/cel/library, in every CRD rule's
// environment since 1.28): quantity(), isQuantity() and the Quantity methods, with exact decimal
// arithmetic. A Quantity is an opaque `kubernetes.Quantity` value; two are `==` when equal in value.
import { create, createFileRegistry, type DescMessage, type Registry } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { celFunc, celMethod, CelScalar, objectType, type CelFunc } from '@bufbuild/cel';
import { alignDecimals, decimalQuantity, normalizeDecimal, type DecimalQuantity } from '../../../shared/api/quantity.js';

// The value is held as its normalized decimal, so message equality is equality of value.
const file = create(FileDescriptorProtoSchema, {
  name: 'kubernetes/quantity.proto',
  package: 'kubernetes',
  syntax: 'proto3',
  messageType: [
    {
      name: 'Quantity',
      field: [
        { name: 'coefficient', number: 1, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL },
        { name: 'exponent', number: 2, type: FieldDescriptorProto_Type.INT32, label: FieldDescriptorProto_Label.OPTIONAL },
      ],
    },
  ],
});

export const quantityRegistry: Registry = createFileRegistry(file, () => undefined);
const desc = quantityRegistry.getMessage('kubernetes.Quantity') as DescMessage;
const QUANTITY = objectType(desc);
const [coefficientField, exponentField] = desc.fields as [DescMessage['fields'][number], DescMessage['fields'][number]];

// Kubernetes' own wording (resource.ErrFormatWrong) for a string that is not a quantity.
const FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const MAX_INT64 = 2n ** 63n - 1n;

function toCel(q: DecimalQuantity): ReflectMessage {
  return reflect(desc, create(desc, { coefficient: String(q.coefficient), exponent: q.exponent }));
}

function fromCel(value: unknown): DecimalQuantity {
  const message = value as ReflectMessage;
  return { coefficient: BigInt(message.get(coefficientField) as string), exponent: message.get(exponentField) as number };
}

function parse(text: string): DecimalQuantity {
  try {
    return decimalQuantity(text);
  } catch {
    throw new Error(FORMAT_WRONG);
  }
}

function compare(a: unknown, b: unknown): bigint {
  const [x, y] = alignDecimals(fromCel(a), fromCel(b));
  return x < y ? -1n : x > y ? 1n : 0n;
}

function add(a: DecimalQuantity, b: DecimalQuantity, sign: bigint): ReflectMessage {
  const [x, y, exponent] = alignDecimals(a, b);
  return toCel(normalizeDecimal(x + sign * y, exponent));
}

function asInteger(value: unknown): bigint | undefined {
  const q = fromCel(value);
  if (q.exponent < 0) return undefined;
  const n = q.coefficient * 10n ** BigInt(q.exponent);
  return n > MAX_INT64 || n < -MAX_INT64 - 1n ? undefined : n;
}

const integer = (n: bigint): DecimalQuantity => normalizeDecimal(n, 0);

export const QUANTITY_FUNCS: CelFunc[] = [
  celFunc('quantity', [CelScalar.STRING], QUANTITY, (text) => toCel(parse(text))),
  celFunc('isQuantity', [CelScalar.STRING], CelScalar.BOOL, (text) => {
    try {
      decimalQuantity(text);
      return true;
    } catch {
      return false;
    }
  }),
  celMethod('sign', QUANTITY, [], CelScalar.INT, function () {
    const c = fromCel(this).coefficient;
    return c > 0n ? 1n : c < 0n ? -1n : 0n;
  }),
  celMethod('compareTo', QUANTITY, [QUANTITY], CelScalar.INT, function (other) {
    return compare(this, other);
  }),
  celMethod('isGreaterThan', QUANTITY, [QUANTITY], CelScalar.BOOL, function (other) {
    return compare(this, other) > 0n;
  }),
  celMethod('isLessThan', QUANTITY, [QUANTITY], CelScalar.BOOL, function (other) {
    return compare(this, other) < 0n;
  }),
  celMethod('add', QUANTITY, [QUANTITY], QUANTITY, function (other) {
    return add(fromCel(this), fromCel(other), 1n);
  }),
  celMethod('add', QUANTITY, [CelScalar.INT], QUANTITY, function (n) {
    return add(fromCel(this), integer(n), 1n);
  }),
  celMethod('sub', QUANTITY, [QUANTITY], QUANTITY, function (other) {
    return add(fromCel(this), fromCel(other), -1n);
  }),
  celMethod('sub', QUANTITY, [CelScalar.INT], QUANTITY, function (n) {
    return add(fromCel(this), integer(n), -1n);
  }),
  celMethod('isInteger', QUANTITY, [], CelScalar.BOOL, function () {
    return asInteger(this) !== undefined;
  }),
  celMethod('asInteger', QUANTITY, [], CelScalar.INT, function () {
    const n = asInteger(this);
    if (n === undefined) throw new Error('cannot convert value to integer');
    return n;
  }),
  celMethod('asApproximateFloat', QUANTITY, [], CelScalar.DOUBLE, function () {
    const q = fromCel(this);
    return Number(q.coefficient) * 10 ** q.exponent;
  }),
];
