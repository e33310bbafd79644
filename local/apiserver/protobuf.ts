// Kubernetes' protobuf request encoding, for the few kinds kubectl sends that way: `kubectl create
// namespace|configmap|secret|serviceaccount|service`, `kubectl expose`, `kubectl auth can-i`'s review, `kubectl create
// token`'s TokenRequest, `kubectl drain`'s Eviction, and typed clients' DeleteOptions. The `k8s\0` envelope wraps a
// runtime.Unknown whose `raw` is the object. Other kinds stay unsupported (415).

import { timestamp } from './time.js';

type Field =
  | { name: string; kind: 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'intOrString'; repeated?: boolean }
  | { name: string; kind: 'msg'; msg: Desc; repeated?: boolean }
  | { name: string; kind: 'map'; value: 'string' | 'bytes' };
type Desc = Record<number, Field>;

const OWNER_REFERENCE: Desc = {
  1: { name: 'kind', kind: 'string' },
  3: { name: 'name', kind: 'string' },
  4: { name: 'uid', kind: 'string' },
  5: { name: 'apiVersion', kind: 'string' },
  6: { name: 'controller', kind: 'bool' },
  7: { name: 'blockOwnerDeletion', kind: 'bool' },
};

const OBJECT_META: Desc = {
  1: { name: 'name', kind: 'string' },
  2: { name: 'generateName', kind: 'string' },
  3: { name: 'namespace', kind: 'string' },
  5: { name: 'uid', kind: 'string' },
  6: { name: 'resourceVersion', kind: 'string' },
  7: { name: 'generation', kind: 'int' },
  8: { name: 'creationTimestamp', kind: 'time' },
  11: { name: 'labels', kind: 'map', value: 'string' },
  12: { name: 'annotations', kind: 'map', value: 'string' },
  13: { name: 'ownerReferences', kind: 'msg', msg: OWNER_REFERENCE, repeated: true },
  14: { name: 'finalizers', kind: 'string', repeated: true },
};

const LOCAL_OBJECT_REFERENCE: Desc = { 1: { name: 'name', kind: 'string' } };

const SERVICE_PORT: Desc = {
  1: { name: 'name', kind: 'string' },
  2: { name: 'protocol', kind: 'string' },
  3: { name: 'port', kind: 'int' },
  4: { name: 'targetPort', kind: 'intOrString' },
  5: { name: 'nodePort', kind: 'int' },
  6: { name: 'appProtocol', kind: 'string' },
};

const SERVICE_SPEC: Desc = {
  1: { name: 'ports', kind: 'msg', msg: SERVICE_PORT, repeated: true },
  2: { name: 'selector', kind: 'map', value: 'string' },
  3: { name: 'clusterIP', kind: 'string' },
  4: { name: 'type', kind: 'string' },
  5: { name: 'externalIPs', kind: 'string', repeated: true },
  7: { name: 'sessionAffinity', kind: 'string' },
  8: { name: 'loadBalancerIP', kind: 'string' },
  9: { name: 'loadBalancerSourceRanges', kind: 'string', repeated: true },
  10: { name: 'externalName', kind: 'string' },
  11: { name: 'externalTrafficPolicy', kind: 'string' },
  12: { name: 'healthCheckNodePort', kind: 'int' },
  13: { name: 'publishNotReadyAddresses', kind: 'bool' },
  17: { name: 'ipFamilyPolicy', kind: 'string' },
  18: { name: 'clusterIPs', kind: 'string', repeated: true },
  19: { name: 'ipFamilies', kind: 'string', repeated: true },
  20: { name: 'allocateLoadBalancerNodePorts', kind: 'bool' },
  21: { name: 'loadBalancerClass', kind: 'string' },
  22: { name: 'internalTrafficPolicy', kind: 'string' },
};

// What a typed client (helm's release storage among them) sends with a DELETE.
const DELETE_OPTIONS: Desc = {
  1: { name: 'gracePeriodSeconds', kind: 'int' },
  2: {
    name: 'preconditions',
    kind: 'msg',
    msg: { 1: { name: 'uid', kind: 'string' }, 2: { name: 'resourceVersion', kind: 'string' } },
  },
  3: { name: 'orphanDependents', kind: 'bool' },
  4: { name: 'propagationPolicy', kind: 'string' },
  5: { name: 'dryRun', kind: 'string', repeated: true },
};

export const PROTOBUF_KINDS: Record<string, Desc> = {
  'v1/DeleteOptions': DELETE_OPTIONS,
  'meta.k8s.io/v1/DeleteOptions': DELETE_OPTIONS,
  'v1/ConfigMap': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: { name: 'data', kind: 'map', value: 'string' },
    3: { name: 'binaryData', kind: 'map', value: 'bytes' },
    4: { name: 'immutable', kind: 'bool' },
  },
  'v1/Secret': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: { name: 'data', kind: 'map', value: 'bytes' },
    3: { name: 'type', kind: 'string' },
    4: { name: 'stringData', kind: 'map', value: 'string' },
    5: { name: 'immutable', kind: 'bool' },
  },
  'v1/Namespace': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: { name: 'spec', kind: 'msg', msg: { 1: { name: 'finalizers', kind: 'string', repeated: true } } },
  },
  'authorization.k8s.io/v1/SelfSubjectAccessReview': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: {
      name: 'spec',
      kind: 'msg',
      msg: {
        1: {
          name: 'resourceAttributes',
          kind: 'msg',
          msg: {
            1: { name: 'namespace', kind: 'string' },
            2: { name: 'verb', kind: 'string' },
            3: { name: 'group', kind: 'string' },
            4: { name: 'version', kind: 'string' },
            5: { name: 'resource', kind: 'string' },
            6: { name: 'subresource', kind: 'string' },
            7: { name: 'name', kind: 'string' },
          },
        },
        2: {
          name: 'nonResourceAttributes',
          kind: 'msg',
          msg: { 1: { name: 'path', kind: 'string' }, 2: { name: 'verb', kind: 'string' } },
        },
      },
    },
  },
  'policy/v1/Eviction': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: {
      name: 'deleteOptions',
      kind: 'msg',
      msg: {
        1: { name: 'gracePeriodSeconds', kind: 'int' },
        2: {
          name: 'preconditions',
          kind: 'msg',
          msg: { 1: { name: 'uid', kind: 'string' }, 2: { name: 'resourceVersion', kind: 'string' } },
        },
        3: { name: 'orphanDependents', kind: 'bool' },
        4: { name: 'propagationPolicy', kind: 'string' },
        5: { name: 'dryRun', kind: 'string', repeated: true },
      },
    },
  },
  'v1/Service': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: { name: 'spec', kind: 'msg', msg: SERVICE_SPEC },
  },
  'v1/ServiceAccount': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    3: { name: 'imagePullSecrets', kind: 'msg', msg: LOCAL_OBJECT_REFERENCE, repeated: true },
    4: { name: 'automountServiceAccountToken', kind: 'bool' },
  },
  'authentication.k8s.io/v1/TokenRequest': {
    1: { name: 'metadata', kind: 'msg', msg: OBJECT_META },
    2: {
      name: 'spec',
      kind: 'msg',
      msg: {
        1: { name: 'audiences', kind: 'string', repeated: true },
        3: {
          name: 'boundObjectRef',
          kind: 'msg',
          msg: {
            1: { name: 'kind', kind: 'string' },
            2: { name: 'apiVersion', kind: 'string' },
            3: { name: 'name', kind: 'string' },
            4: { name: 'uid', kind: 'string' },
          },
        },
        4: { name: 'expirationSeconds', kind: 'int' },
      },
    },
  },
};

const UNKNOWN: Desc = {
  1: { name: 'typeMeta', kind: 'msg', msg: { 1: { name: 'apiVersion', kind: 'string' }, 2: { name: 'kind', kind: 'string' } } },
  2: { name: 'raw', kind: 'bytes' },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decode(buf: Buffer, desc: Desc, bytesAsBuffer = false): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, any> = {};
  while (r.pos < buf.length) {
    const key = Number(r.varint());
    const field = desc[key >> 3];
    const wire = key & 7;
    if (!field) {
      r.skip(wire);
      continue;
    }
    let value: unknown;
    switch (field.kind) {
      case 'string':
        value = r.bytes().toString('utf8');
        break;
      case 'bytes': {
        const b = r.bytes();
        value = bytesAsBuffer ? Buffer.from(b) : b.toString('base64');
        break;
      }
      case 'int':
        value = Number(BigInt.asIntN(64, r.varint()));
        break;
      case 'bool':
        value = r.varint() !== 0n;
        break;
      case 'intOrString': {
        // type 1 is a string, else the int.
        const v = decode(r.bytes(), {
          1: { name: 'type', kind: 'int' },
          2: { name: 'intVal', kind: 'int' },
          3: { name: 'strVal', kind: 'string' },
        });
        value = v.type === 1 ? String(v.strVal ?? '') : Number(v.intVal ?? 0);
        break;
      }
      case 'time': {
        const t = decode(r.bytes(), { 1: { name: 'seconds', kind: 'int' }, 2: { name: 'nanos', kind: 'int' } });
        value = timestamp(new Date(Number(t.seconds ?? 0) * 1000));
        break;
      }
      case 'msg':
        value = decode(r.bytes(), field.msg);
        break;
      case 'map': {
        const entry = decode(r.bytes(), { 1: { name: 'k', kind: 'string' }, 2: { name: 'v', kind: field.value } });
        out[field.name] ??= {};
        out[field.name][String(entry.k ?? '')] = entry.v ?? '';
        continue;
      }
    }
    if ('repeated' in field && field.repeated) (out[field.name] ??= []).push(value);
    else out[field.name] = value;
  }
  return out;
}

export const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** The JSON form of a protobuf-encoded request body, or undefined for a kind not covered here. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> | undefined {
  if (!body.subarray(0, 4).equals(PROTOBUF_MAGIC)) throw new Error('not a Kubernetes protobuf message');
  const unknown = decode(body.subarray(4), UNKNOWN, true) as { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Buffer };
  const apiVersion = unknown.typeMeta?.apiVersion ?? '';
  const kind = unknown.typeMeta?.kind ?? '';
  const desc = PROTOBUF_KINDS[`${apiVersion}/${kind}`];
  if (!desc || !unknown.raw) return undefined;
  const object: Record<string, any> = { apiVersion, kind, ...decode(unknown.raw, desc) };
  if (kind === 'Service' && object.spec) omitEmpty(object.spec);
  return object;
}

/** Protobuf carries every field; JSON omits empty ones, and the defaults must see them as unset. */
function omitEmpty(o: Record<string, any>): void {
  for (const [k, v] of Object.entries(o)) {
    // Optional fields (pointers in Go) come only when set: false is only dropped where it is the zero value.
    if (v === '' || v === 0 || (v === false && k === 'publishNotReadyAddresses')) delete o[k];
    else if (Array.isArray(v)) v.forEach((item) => item && typeof item === 'object' && omitEmpty(item));
  }
}
