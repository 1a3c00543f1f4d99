/**
 * The small subset of CEL that `x-kubernetes-validations` rules here use: literals, `self`/`oldSelf`,
 * field and index access, `has()`, `size()`, `! && || ?:`, comparisons, arithmetic, `in`, string
 * methods and the list macros. Anything else raises CelUnsupported (from cel-parser.ts), and the
 * caller accepts the object (and logs) rather than refusing something a real server would take.
 */
import { CelUnsupported } from './cel-parser.ts';
import type { CelProgram, Node } from './cel-parser.ts';

export class CelRuntimeError extends Error {}

type Scope = Map<string, unknown>;

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => equal(item, b[index]));
  if (isMap(a) && isMap(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => key in b && equal(a[key], b[key]));
  }
  return false;
}

function member(value: unknown, name: string): unknown {
  if (!isMap(value) || !(name in value) || value[name] === undefined) throw new CelRuntimeError(`no such key: ${name}`);
  return value[name];
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string') return [...value].length;
  if (Array.isArray(value)) return value.length;
  if (isMap(value)) return Object.keys(value).length;
  throw new CelRuntimeError('no matching overload for size');
}

function compare(op: string, left: unknown, right: unknown): boolean {
  if (op === '==') return equal(left, right);
  if (op === '!=') return !equal(left, right);
  if (typeof left !== typeof right || (typeof left !== 'number' && typeof left !== 'string')) {
    throw new CelRuntimeError(`no matching overload for '${op}'`);
  }
  const a = left as number | string;
  const b = right as number | string;
  switch (op) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    default: return a >= b;
  }
}

function arithmetic(op: string, left: unknown, right: unknown): unknown {
  if (op === '+' && typeof left === 'string' && typeof right === 'string') return left + right;
  if (op === '+' && Array.isArray(left) && Array.isArray(right)) return [...left, ...right];
  if (typeof left !== 'number' || typeof right !== 'number') throw new CelRuntimeError(`no matching overload for '${op}'`);
  const integers = Number.isInteger(left) && Number.isInteger(right);
  switch (op) {
    case '+': return left + right;
    case '-': return left - right;
    case '*': return left * right;
    case '/':
      if (right === 0 && integers) throw new CelRuntimeError('division by zero');
      return integers ? Math.trunc(left / right) : left / right;
    default:
      if (right === 0) throw new CelRuntimeError('modulus by zero');
      return left % right;
  }
}

const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function macro(node: Extract<Node, { t: 'call' }>, scope: Scope): unknown {
  const range = evaluate(node.target as Node, scope);
  const [variable, body] = node.args;
  if (variable?.t !== 'id' || !body) throw new CelUnsupported(`bad ${node.name}() macro`);
  const items = Array.isArray(range) ? range : isMap(range) ? Object.keys(range) : undefined;
  if (!items) throw new CelRuntimeError(`no matching overload for ${node.name}`);
  const run = (item: unknown) => evaluate(body, new Map(scope).set(variable.name, item));
  switch (node.name) {
    case 'all': return items.every((item) => run(item) === true);
    case 'exists': return items.some((item) => run(item) === true);
    case 'exists_one': return items.filter((item) => run(item) === true).length === 1;
    case 'map': return items.map(run);
    default: return items.filter((item) => run(item) === true);
  }
}

function call(node: Extract<Node, { t: 'call' }>, scope: Scope): unknown {
  if (node.name === 'has' && !node.target) {
    const argument = node.args[0];
    if (argument?.t !== 'member') throw new CelUnsupported('has() takes a field selection');
    const value = evaluate(argument.obj, scope);
    return isMap(value) && value[argument.name] !== undefined;
  }
  if (node.target && MACROS.has(node.name)) return macro(node, scope);
  const target = node.target ? evaluate(node.target, scope) : undefined;
  const args = node.args.map((argument) => evaluate(argument, scope));
  const receiver = node.target ? target : args.shift();
  const text = (value: unknown): string => {
    if (typeof value !== 'string') throw new CelRuntimeError(`no matching overload for ${node.name}`);
    return value;
  };
  switch (node.name) {
    case 'size': return sizeOf(receiver);
    case 'startsWith': return text(receiver).startsWith(text(args[0]));
    case 'endsWith': return text(receiver).endsWith(text(args[0]));
    case 'contains': return text(receiver).includes(text(args[0]));
    case 'matches': return new RegExp(text(args[0])).test(text(receiver));
    case 'lowerAscii': return text(receiver).toLowerCase();
    case 'upperAscii': return text(receiver).toUpperCase();
    case 'trim': return text(receiver).trim();
    case 'int': return Math.trunc(Number(receiver));
    case 'double': return Number(receiver);
    case 'string': return String(receiver);
    default: throw new CelUnsupported(`function ${node.name} is not in the supported subset`);
  }
}

function evaluate(node: Node, scope: Scope): unknown {
  switch (node.t) {
    case 'lit': return node.v;
    case 'id':
      if (!scope.has(node.name)) throw new CelUnsupported(`undeclared reference to '${node.name}'`);
      return scope.get(node.name);
    case 'member': return member(evaluate(node.obj, scope), node.name);
    case 'index': {
      const container = evaluate(node.obj, scope);
      const index = evaluate(node.index, scope);
      if (Array.isArray(container) && typeof index === 'number') {
        if (index < 0 || index >= container.length) throw new CelRuntimeError(`index out of bounds: ${index}`);
        return container[index];
      }
      return member(container, String(index));
    }
    case 'call': return call(node, scope);
    case 'unary': {
      const value = evaluate(node.arg, scope);
      if (node.op === '!') {
        if (typeof value !== 'boolean') throw new CelRuntimeError("no matching overload for '!'");
        return !value;
      }
      if (typeof value !== 'number') throw new CelRuntimeError("no matching overload for '-'");
      return -value;
    }
    case 'binary': {
      if (node.op === '&&' || node.op === '||') {
        const left = evaluate(node.left, scope);
        if (typeof left !== 'boolean') throw new CelRuntimeError(`no matching overload for '${node.op}'`);
        if (node.op === '&&' ? !left : left) return left;
        const right = evaluate(node.right, scope);
        if (typeof right !== 'boolean') throw new CelRuntimeError(`no matching overload for '${node.op}'`);
        return right;
      }
      const left = evaluate(node.left, scope);
      const right = evaluate(node.right, scope);
      if (node.op === 'in') {
        if (Array.isArray(right)) return right.some((item) => equal(item, left));
        if (isMap(right)) return typeof left === 'string' && left in right;
        throw new CelRuntimeError("no matching overload for 'in'");
      }
      if (['==', '!=', '<', '<=', '>', '>='].includes(node.op)) return compare(node.op, left, right);
      return arithmetic(node.op, left, right);
    }
    case 'cond': {
      const test = evaluate(node.test, scope);
      if (typeof test !== 'boolean') throw new CelRuntimeError('no matching overload for ?:');
      return test ? evaluate(node.then, scope) : evaluate(node.otherwise, scope);
    }
    case 'list': return node.items.map((item) => evaluate(item, scope));
    case 'map': return Object.fromEntries(node.entries.map(([key, value]) => [String(evaluate(key, scope)), evaluate(value, scope)]));
  }
}

/** Runs a compiled rule; throws CelRuntimeError (the rule fails) or CelUnsupported (skip it). */
export function runCel(program: CelProgram, self: unknown, oldSelf?: unknown): unknown {
  const scope: Scope = new Map([['self', self]]);
  if (oldSelf !== undefined) scope.set('oldSelf', oldSelf);
  return evaluate(program.root, scope);
}
