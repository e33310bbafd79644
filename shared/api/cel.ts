// An evaluator for the part of CEL that the CRD's x-kubernetes-validations rules use: literals
// (int, string, bool, lists), field selection, has(), list.all(x, e), `in`, arithmetic,
// comparison and logic. Anything outside that subset is a parse error, so a rule written beyond it
// fails the tests loudly instead of being judged by guesswork. Semantics follow CEL: selecting an
// absent field is an error, && and || absorb an error when the other side decides, and there is
// no implicit conversion between int and string.

type Node =
  | { kind: 'literal'; value: unknown }
  | { kind: 'ident'; name: string }
  | { kind: 'list'; items: Node[] }
  | { kind: 'select'; target: Node; field: string }
  | { kind: 'has'; target: Node; field: string }
  | { kind: 'all'; target: Node; variable: string; body: Node }
  | { kind: 'unary'; op: '!' | '-'; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node };

export class CelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CelError';
  }
}

const TOKEN = /\s*(?:(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||==|!=|<=|>=|[-+*/%<>!().,[\]]))/y;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    if (/^\s*$/.test(source.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(source);
    if (!m) throw new CelError(`unexpected input at ${at}: ${source.slice(at, at + 10)}`);
    if (m[1] !== undefined) tokens.push(m[1]);
    else if (m[2] !== undefined || m[3] !== undefined) tokens.push(`'${m[2] ?? m[3]}`);
    else tokens.push(m[4] ?? m[5]!);
  }
  return tokens;
}

const BINARY_PRECEDENCE: Record<string, number> = {
  '||': 1,
  '&&': 2,
  '==': 3,
  '!=': 3,
  '<': 3,
  '<=': 3,
  '>': 3,
  '>=': 3,
  in: 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
};

export function parseCel(source: string): Node {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const t = tokens[pos++];
    if (t === undefined) throw new CelError('unexpected end of expression');
    return t;
  };
  const expect = (t: string) => {
    const got = next();
    if (got !== t) throw new CelError(`expected ${t}, got ${got}`);
  };
  const isIdent = (t: string | undefined) => t !== undefined && /^[A-Za-z_]/.test(t);

  function expression(minPrecedence = 1): Node {
    let left = unary();
    for (;;) {
      const op = peek();
      const precedence = op === undefined ? undefined : BINARY_PRECEDENCE[op];
      if (precedence === undefined || precedence < minPrecedence) return left;
      next();
      const right = expression(precedence + 1);
      left = { kind: 'binary', op: op!, left, right };
    }
  }

  function unary(): Node {
    const t = peek();
    if (t === '!' || t === '-') {
      next();
      return { kind: 'unary', op: t, operand: unary() };
    }
    return postfix(primary());
  }

  function primary(): Node {
    const t = next();
    if (/^\d/.test(t)) return { kind: 'literal', value: BigInt(t) };
    if (t.startsWith("'")) return { kind: 'literal', value: t.slice(1).replace(/\\(.)/g, '$1') };
    if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
    if (t === '(') {
      const e = expression();
      expect(')');
      return e;
    }
    if (t === '[') {
      const items: Node[] = [];
      while (peek() !== ']') {
        items.push(expression());
        if (peek() === ',') next();
        else break;
      }
      expect(']');
      return { kind: 'list', items };
    }
    if (t === 'has') {
      expect('(');
      const target = postfix(primary());
      expect(')');
      if (target.kind !== 'select') throw new CelError('has() needs a field selection');
      return { kind: 'has', target: target.target, field: target.field };
    }
    if (isIdent(t)) return { kind: 'ident', name: t };
    throw new CelError(`unexpected ${t}`);
  }

  function postfix(node: Node): Node {
    while (peek() === '.') {
      next();
      const name = next();
      if (!isIdent(name)) throw new CelError(`expected a field name, got ${name}`);
      if (peek() === '(') {
        if (name !== 'all') throw new CelError(`unsupported function ${name}()`);
        next();
        const variable = next();
        if (!isIdent(variable)) throw new CelError('all() needs a variable');
        expect(',');
        const body = expression();
        expect(')');
        node = { kind: 'all', target: node, variable, body };
      } else {
        node = { kind: 'select', target: node, field: name };
      }
    }
    return node;
  }

  const root = expression();
  if (pos !== tokens.length) throw new CelError(`unexpected ${tokens[pos]}`);
  return root;
}

/** int is a bigint, double a number: CEL never compares or mixes the two implicitly. */
type Value = bigint | number | string | boolean | Value[] | { [key: string]: Value } | null;

function fromJson(value: unknown): Value {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(fromJson);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
  }
  return value as Value;
}

const isMap = (v: Value): v is { [key: string]: Value } => typeof v === 'object' && v !== null && !Array.isArray(v);

function equal(a: Value, b: Value): boolean {
  if (typeof a !== typeof b) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]!));
  if (isMap(a) && isMap(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && equal(a[k]!, b[k]!));
  }
  return a === b;
}

function evaluate(node: Node, scope: Record<string, Value>): Value {
  switch (node.kind) {
    case 'literal':
      return node.value as Value;
    case 'ident':
      if (!(node.name in scope)) throw new CelError(`undeclared reference to ${node.name}`);
      return scope[node.name]!;
    case 'list':
      return node.items.map((item) => evaluate(item, scope));
    case 'select': {
      const target = evaluate(node.target, scope);
      if (!isMap(target)) throw new CelError(`cannot select ${node.field} from a non-object`);
      if (!(node.field in target)) throw new CelError(`no such key: ${node.field}`);
      return target[node.field]!;
    }
    case 'has': {
      const target = evaluate(node.target, scope);
      if (!isMap(target)) throw new CelError(`has() on a non-object`);
      return node.field in target;
    }
    case 'all': {
      const target = evaluate(node.target, scope);
      const items = Array.isArray(target) ? target : isMap(target) ? Object.keys(target) : undefined;
      if (!items) throw new CelError('all() needs a list or a map');
      return items.every((item) => bool(evaluate(node.body, { ...scope, [node.variable]: item })));
    }
    case 'unary': {
      const value = evaluate(node.operand, scope);
      if (node.op === '!') return !bool(value);
      if (typeof value !== 'bigint') throw new CelError('- needs an int');
      return -value;
    }
    case 'binary':
      return binary(node.op, node.left, node.right, scope);
  }
}

function bool(value: Value): boolean {
  if (typeof value !== 'boolean') throw new CelError(`expected a bool, got ${typeof value}`);
  return value;
}

function binary(op: string, leftNode: Node, rightNode: Node, scope: Record<string, Value>): Value {
  if (op === '&&' || op === '||') {
    // CEL's logic is commutative: an error on one side is absorbed when the other side decides.
    const decides = op === '||';
    let error: unknown;
    for (const side of [leftNode, rightNode]) {
      try {
        if (bool(evaluate(side, scope)) === decides) return decides;
      } catch (err) {
        error ??= err;
      }
    }
    if (error) throw error;
    return !decides;
  }
  const left = evaluate(leftNode, scope);
  const right = evaluate(rightNode, scope);
  switch (op) {
    case '==':
      return equal(left, right);
    case '!=':
      return !equal(left, right);
    case 'in':
      if (Array.isArray(right)) return right.some((item) => equal(item, left));
      if (isMap(right)) return typeof left === 'string' && left in right;
      throw new CelError('in needs a list or a map');
  }
  if (typeof left !== 'bigint' || typeof right !== 'bigint') throw new CelError(`${op} needs two ints`);
  switch (op) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
      if (right === 0n) throw new CelError('division by zero');
      return left / right;
    case '%':
      if (right === 0n) throw new CelError('modulus by zero');
      return left % right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
  }
  throw new CelError(`unsupported operator ${op}`);
}

/** Evaluates a validation rule against `self`; true when the rule holds. Throws CelError. */
export function evaluateRule(rule: string, self: unknown): boolean {
  return bool(evaluate(parseCel(rule), { self: fromJson(self) }));
}
