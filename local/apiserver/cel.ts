// A subset of CEL for CRD `x-kubernetes-validations` rules: literals (int, double, string, bool,
// null, lists, maps), `self` and field selection, `[]` indexing, arithmetic, comparisons, `in`,
// `!`, `&&`, `||`, `? :`, `has()`, `size()`, and the macros `all`, `exists`, `exists_one`, `map`,
// `filter`, plus `startsWith`, `endsWith`, `contains`, `matches`. A rule using anything else
// (or `oldSelf`) is reported as unsupported and not enforced.

export class CelUnsupported extends Error {}
export class CelEvalError extends Error {}

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'id'; name: string }
  | { k: 'sel'; obj: Node; field: string }
  | { k: 'idx'; obj: Node; index: Node }
  | { k: 'call'; target?: Node; fn: string; args: Node[] }
  | { k: 'list'; items: Node[] }
  | { k: 'map'; entries: [Node, Node][] }
  | { k: 'un'; op: string; arg: Node }
  | { k: 'bin'; op: string; l: Node; r: Node }
  | { k: 'cond'; c: Node; t: Node; f: Node };

const TOKEN = /\s*(?:(\d+\.\d+(?:[eE][+-]?\d+)?)|(\d+)u?|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()[\]{}]))/y;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (!m) throw new CelUnsupported(`cannot read ${JSON.stringify(src.slice(pos, pos + 10))}`);
    out.push(m[0].trim());
    pos = TOKEN.lastIndex;
  }
  return out;
}

function unquote(s: string): string {
  const body = s.slice(1, -1);
  return body.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

class Parser {
  private i = 0;
  constructor(private readonly t: string[]) {}

  parse(): Node {
    const n = this.expr();
    if (this.i < this.t.length) throw new CelUnsupported(`unexpected ${this.t[this.i]}`);
    return n;
  }

  private peek(): string | undefined {
    return this.t[this.i];
  }

  private eat(tok?: string): string {
    const cur = this.t[this.i];
    if (cur === undefined || (tok !== undefined && cur !== tok)) throw new CelUnsupported(`expected ${tok ?? 'more'}, got ${cur ?? 'end'}`);
    this.i++;
    return cur;
  }

  private expr(): Node {
    const c = this.or();
    if (this.peek() === '?') {
      this.eat('?');
      const t = this.expr();
      this.eat(':');
      return { k: 'cond', c, t, f: this.expr() };
    }
    return c;
  }

  private or(): Node {
    let l = this.and();
    while (this.peek() === '||') {
      this.eat();
      l = { k: 'bin', op: '||', l, r: this.and() };
    }
    return l;
  }

  private and(): Node {
    let l = this.rel();
    while (this.peek() === '&&') {
      this.eat();
      l = { k: 'bin', op: '&&', l, r: this.rel() };
    }
    return l;
  }

  private rel(): Node {
    let l = this.add();
    while (['<', '<=', '>', '>=', '==', '!=', 'in'].includes(this.peek() ?? '')) {
      const op = this.eat();
      l = { k: 'bin', op, l, r: this.add() };
    }
    return l;
  }

  private add(): Node {
    let l = this.mul();
    while (this.peek() === '+' || this.peek() === '-') {
      const op = this.eat();
      l = { k: 'bin', op, l, r: this.mul() };
    }
    return l;
  }

  private mul(): Node {
    let l = this.unary();
    while (['*', '/', '%'].includes(this.peek() ?? '')) {
      const op = this.eat();
      l = { k: 'bin', op, l, r: this.unary() };
    }
    return l;
  }

  private unary(): Node {
    if (this.peek() === '!' || this.peek() === '-') {
      const op = this.eat();
      return { k: 'un', op, arg: this.unary() };
    }
    return this.member();
  }

  private args(close: string): Node[] {
    const out: Node[] = [];
    if (this.peek() === close) {
      this.eat(close);
      return out;
    }
    for (;;) {
      out.push(this.expr());
      if (this.peek() === ',') {
        this.eat(',');
        if (this.peek() === close) break;
        continue;
      }
      break;
    }
    this.eat(close);
    return out;
  }

  private member(): Node {
    let n = this.primary();
    for (;;) {
      if (this.peek() === '.') {
        this.eat('.');
        const field = this.eat();
        if (!/^[A-Za-z_]/.test(field)) throw new CelUnsupported(`bad field ${field}`);
        if (this.peek() === '(') {
          this.eat('(');
          n = { k: 'call', target: n, fn: field, args: this.args(')') };
        } else n = { k: 'sel', obj: n, field };
      } else if (this.peek() === '[') {
        this.eat('[');
        const index = this.expr();
        this.eat(']');
        n = { k: 'idx', obj: n, index };
      } else return n;
    }
  }

  private primary(): Node {
    const tok = this.eat();
    if (/^\d+\.\d+/.test(tok)) return { k: 'lit', v: Number(tok) };
    if (/^\d+u?$/.test(tok)) return { k: 'lit', v: Number.parseInt(tok, 10) };
    if (tok.startsWith('"') || tok.startsWith("'")) return { k: 'lit', v: unquote(tok) };
    if (tok === 'true' || tok === 'false') return { k: 'lit', v: tok === 'true' };
    if (tok === 'null') return { k: 'lit', v: null };
    if (tok === '(') {
      const e = this.expr();
      this.eat(')');
      return e;
    }
    if (tok === '[') return { k: 'list', items: this.args(']') };
    if (tok === '{') {
      const entries: [Node, Node][] = [];
      while (this.peek() !== '}') {
        const key = this.expr();
        this.eat(':');
        entries.push([key, this.expr()]);
        if (this.peek() === ',') this.eat(',');
      }
      this.eat('}');
      return { k: 'map', entries };
    }
    if (/^[A-Za-z_]/.test(tok)) {
      if (this.peek() === '(') {
        this.eat('(');
        return { k: 'call', fn: tok, args: this.args(')') };
      }
      return { k: 'id', name: tok };
    }
    throw new CelUnsupported(`unexpected ${tok}`);
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function equal(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return a === b;
}

function num(v: unknown): number {
  if (typeof v !== 'number') throw new CelEvalError(`expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new CelEvalError(`expected a bool, got ${JSON.stringify(v)}`);
  return v;
}

type Scope = Record<string, unknown>;

function evaluate(n: Node, scope: Scope): unknown {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'id':
      if (!(n.name in scope)) throw new CelUnsupported(`unknown name ${n.name}`);
      return scope[n.name];
    case 'sel': {
      const obj = evaluate(n.obj, scope);
      if (!isMap(obj) || !(n.field in obj)) throw new CelEvalError(`no such key: ${n.field}`);
      return obj[n.field];
    }
    case 'idx': {
      const obj = evaluate(n.obj, scope);
      const index = evaluate(n.index, scope);
      if (Array.isArray(obj) && typeof index === 'number' && index >= 0 && index < obj.length) return obj[index];
      if (isMap(obj) && typeof index === 'string' && index in obj) return obj[index];
      throw new CelEvalError(`no such key: ${String(index)}`);
    }
    case 'list':
      return n.items.map((i) => evaluate(i, scope));
    case 'map':
      return Object.fromEntries(n.entries.map(([k, v]) => [String(evaluate(k, scope)), evaluate(v, scope)]));
    case 'un': {
      const v = evaluate(n.arg, scope);
      return n.op === '!' ? !bool(v) : -num(v);
    }
    case 'cond':
      return bool(evaluate(n.c, scope)) ? evaluate(n.t, scope) : evaluate(n.f, scope);
    case 'bin':
      return binary(n, scope);
    case 'call':
      return call(n, scope);
  }
}

function binary(n: Extract<Node, { k: 'bin' }>, scope: Scope): unknown {
  if (n.op === '&&' || n.op === '||') {
    // CEL's commutative logic: an error on one side is absorbed when the other decides.
    let left: boolean | Error;
    try {
      left = bool(evaluate(n.l, scope));
    } catch (err) {
      if (err instanceof CelUnsupported) throw err;
      left = err as Error;
    }
    if (left === (n.op === '||')) return left;
    const right = bool(evaluate(n.r, scope));
    if (right === (n.op === '||')) return right;
    if (left instanceof Error) throw left;
    return right;
  }
  const l = evaluate(n.l, scope);
  const r = evaluate(n.r, scope);
  switch (n.op) {
    case '==':
      return equal(l, r);
    case '!=':
      return !equal(l, r);
    case 'in':
      if (Array.isArray(r)) return r.some((x) => equal(x, l));
      if (isMap(r)) return typeof l === 'string' && l in r;
      throw new CelEvalError('in: expected a list or map');
    case '+':
      if (typeof l === 'string' && typeof r === 'string') return l + r;
      if (Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
      return num(l) + num(r);
    case '-':
      return num(l) - num(r);
    case '*':
      return num(l) * num(r);
    case '/': {
      if (num(r) === 0) throw new CelEvalError('division by zero');
      const q = num(l) / num(r);
      return Number.isInteger(l) && Number.isInteger(r) ? Math.trunc(q) : q;
    }
    case '%':
      if (num(r) === 0) throw new CelEvalError('modulus by zero');
      return num(l) % num(r);
  }
  if (typeof l === 'string' && typeof r === 'string') {
    return { '<': l < r, '<=': l <= r, '>': l > r, '>=': l >= r }[n.op];
  }
  const a = num(l);
  const b = num(r);
  return { '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b }[n.op];
}

function call(n: Extract<Node, { k: 'call' }>, scope: Scope): unknown {
  if (!n.target) {
    switch (n.fn) {
      case 'has': {
        const arg = n.args[0];
        if (!arg || arg.k !== 'sel') throw new CelUnsupported('has() needs a field selection');
        const obj = evaluate(arg.obj, scope);
        return isMap(obj) && arg.field in obj;
      }
      case 'size':
        return size(evaluate(n.args[0]!, scope));
      case 'int':
        return Math.trunc(Number(evaluate(n.args[0]!, scope)));
      case 'string':
        return String(evaluate(n.args[0]!, scope));
      default:
        throw new CelUnsupported(`function ${n.fn}`);
    }
  }
  if (['all', 'exists', 'exists_one', 'map', 'filter'].includes(n.fn)) {
    const target = evaluate(n.target, scope);
    const variable = n.args[0];
    if (!variable || variable.k !== 'id' || n.args.length !== 2) throw new CelUnsupported(`${n.fn}() form`);
    const items = Array.isArray(target) ? target : isMap(target) ? Object.keys(target) : undefined;
    if (!items) throw new CelEvalError(`${n.fn}: expected a list or map`);
    const body = n.args[1]!;
    const each = (v: unknown) => evaluate(body, { ...scope, [variable.name]: v });
    switch (n.fn) {
      case 'all':
        return items.every((v) => bool(each(v)));
      case 'exists':
        return items.some((v) => bool(each(v)));
      case 'exists_one':
        return items.filter((v) => bool(each(v))).length === 1;
      case 'map':
        return items.map(each);
      default:
        return items.filter((v) => bool(each(v)));
    }
  }
  const target = evaluate(n.target, scope);
  const args = n.args.map((a) => evaluate(a, scope));
  switch (n.fn) {
    case 'size':
      return size(target);
    case 'startsWith':
      return String(target).startsWith(String(args[0]));
    case 'endsWith':
      return String(target).endsWith(String(args[0]));
    case 'contains':
      return String(target).includes(String(args[0]));
    case 'matches':
      return new RegExp(String(args[0])).test(String(target));
    default:
      throw new CelUnsupported(`method ${n.fn}`);
  }
}

function size(v: unknown): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new CelEvalError('size: expected a string, list or map');
}

export interface CompiledRule {
  /** true: holds, false: violated; throws CelEvalError when it cannot be evaluated. */
  check(self: unknown): boolean;
}

/** Compiles a rule; throws CelUnsupported when it uses what this subset does not cover. */
export function compileRule(rule: string): CompiledRule {
  if (/\boldSelf\b/.test(rule)) throw new CelUnsupported('transition rules (oldSelf)');
  const ast = new Parser(tokenize(rule)).parse();
  return { check: (self) => bool(evaluate(ast, { self })) };
}
