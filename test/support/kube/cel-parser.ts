/**
 * Parsing half of the CEL subset that cel.ts evaluates: tokens, a precedence-climbing parser, and a
 * check that every function called is one the evaluator knows (CEL's type check would refuse others).
 */

/** Syntax or a function outside the subset: the rule is skipped (and logged), never failed. */
export class CelUnsupported extends Error {}

export type Node =
  | { t: 'lit'; v: unknown }
  | { t: 'id'; name: string }
  | { t: 'member'; obj: Node; name: string }
  | { t: 'index'; obj: Node; index: Node }
  | { t: 'call'; target: Node | undefined; name: string; args: Node[] }
  | { t: 'unary'; op: string; arg: Node }
  | { t: 'binary'; op: string; left: Node; right: Node }
  | { t: 'cond'; test: Node; then: Node; otherwise: Node }
  | { t: 'list'; items: Node[] }
  | { t: 'map'; entries: Array<[Node, Node]> };

interface Token { kind: 'num' | 'str' | 'id' | 'op'; value: string | number }

const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '+', '-', '*', '/', '%', '?', ':', '.', ',', '(', ')', '[', ']', '{', '}'];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < source.length) {
    const char = source[index] as string;
    if (/\s/.test(char)) { index++; continue; }
    const number = /^(\d+\.\d+(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+|\d+)u?/.exec(source.slice(index));
    if (number) {
      tokens.push({ kind: 'num', value: Number((number[0]).replace(/u$/, '')) });
      index += number[0].length;
      continue;
    }
    if (char === '"' || char === "'") {
      let value = '';
      index++;
      while (index < source.length && source[index] !== char) {
        if (source[index] === '\\') {
          index++;
          const escaped = source[index] as string;
          value += escaped === 'n' ? '\n' : escaped === 't' ? '\t' : escaped;
        } else {
          value += source[index];
        }
        index++;
      }
      if (index >= source.length) throw new CelUnsupported('unterminated string');
      index++;
      tokens.push({ kind: 'str', value });
      continue;
    }
    const identifier = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(index));
    if (identifier) {
      tokens.push({ kind: 'id', value: identifier[0] });
      index += identifier[0].length;
      continue;
    }
    const operator = OPERATORS.find((candidate) => source.startsWith(candidate, index));
    if (!operator) throw new CelUnsupported(`unexpected character '${char}'`);
    tokens.push({ kind: 'op', value: operator });
    index += operator.length;
  }
  return tokens;
}

class Parser {
  #position = 0;
  readonly #tokens: Token[];

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  parse(): Node {
    const node = this.#conditional();
    if (this.#position < this.#tokens.length) throw new CelUnsupported(`unexpected '${String(this.#peek()?.value)}'`);
    return node;
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#position];
  }

  #isOp(value: string): boolean {
    const token = this.#peek();
    return token?.kind === 'op' && token.value === value;
  }

  #expect(value: string): void {
    if (!this.#isOp(value)) throw new CelUnsupported(`expected '${value}'`);
    this.#position++;
  }

  #conditional(): Node {
    const test = this.#binary(0);
    if (!this.#isOp('?')) return test;
    this.#position++;
    const then = this.#conditional();
    this.#expect(':');
    return { t: 'cond', test, then, otherwise: this.#conditional() };
  }

  static readonly levels: string[][] = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>=', 'in'], ['+', '-'], ['*', '/', '%']];

  #binary(level: number): Node {
    if (level >= Parser.levels.length) return this.#unary();
    let left = this.#binary(level + 1);
    for (;;) {
      const token = this.#peek();
      const op = token && (token.kind === 'op' || (token.kind === 'id' && token.value === 'in')) ? String(token.value) : undefined;
      if (!op || !(Parser.levels[level] as string[]).includes(op)) return left;
      this.#position++;
      left = { t: 'binary', op, left, right: this.#binary(level + 1) };
    }
  }

  #unary(): Node {
    if (this.#isOp('!') || this.#isOp('-')) {
      const op = String((this.#tokens[this.#position++] as Token).value);
      return { t: 'unary', op, arg: this.#unary() };
    }
    return this.#postfix(this.#primary());
  }

  #arguments(): Node[] {
    const args: Node[] = [];
    this.#expect('(');
    while (!this.#isOp(')')) {
      args.push(this.#conditional());
      if (!this.#isOp(')')) this.#expect(',');
    }
    this.#position++;
    return args;
  }

  #postfix(node: Node): Node {
    for (;;) {
      if (this.#isOp('.')) {
        this.#position++;
        const name = this.#peek();
        if (name?.kind !== 'id') throw new CelUnsupported('expected a field name');
        this.#position++;
        node = this.#isOp('(')
          ? { t: 'call', target: node, name: String(name.value), args: this.#arguments() }
          : { t: 'member', obj: node, name: String(name.value) };
      } else if (this.#isOp('[')) {
        this.#position++;
        const index = this.#conditional();
        this.#expect(']');
        node = { t: 'index', obj: node, index };
      } else {
        return node;
      }
    }
  }

  #primary(): Node {
    const token = this.#peek();
    if (!token) throw new CelUnsupported('unexpected end of rule');
    this.#position++;
    if (token.kind === 'num' || token.kind === 'str') return { t: 'lit', v: token.value };
    if (token.kind === 'id') {
      const name = String(token.value);
      if (name === 'true' || name === 'false') return { t: 'lit', v: name === 'true' };
      if (name === 'null') return { t: 'lit', v: null };
      if (this.#isOp('(')) return { t: 'call', target: undefined, name, args: this.#arguments() };
      return { t: 'id', name };
    }
    if (token.value === '(') {
      const inner = this.#conditional();
      this.#expect(')');
      return inner;
    }
    if (token.value === '[') {
      const items: Node[] = [];
      while (!this.#isOp(']')) {
        items.push(this.#conditional());
        if (!this.#isOp(']')) this.#expect(',');
      }
      this.#position++;
      return { t: 'list', items };
    }
    if (token.value === '{') {
      const entries: Array<[Node, Node]> = [];
      while (!this.#isOp('}')) {
        const key = this.#conditional();
        this.#expect(':');
        entries.push([key, this.#conditional()]);
        if (!this.#isOp('}')) this.#expect(',');
      }
      this.#position++;
      return { t: 'map', entries };
    }
    throw new CelUnsupported(`unexpected '${String(token.value)}'`);
  }
}

export interface CelProgram { source: string; root: Node; usesOldSelf: boolean }

const compiled = new Map<string, CelProgram>();

const FUNCTIONS = new Set(['has', 'size', 'startsWith', 'endsWith', 'contains', 'matches', 'lowerAscii', 'upperAscii', 'trim', 'int', 'double', 'string', 'all', 'exists', 'exists_one', 'map', 'filter']);

/** Unknown functions are found before running, as CEL's type check would, not when first reached. */
function checkFunctions(node: Node): void {
  switch (node.t) {
    case 'call':
      if (!FUNCTIONS.has(node.name)) throw new CelUnsupported(`function ${node.name} is not in the supported subset`);
      if (node.target) checkFunctions(node.target);
      node.args.forEach(checkFunctions);
      return;
    case 'member': return checkFunctions(node.obj);
    case 'index': checkFunctions(node.obj); return checkFunctions(node.index);
    case 'unary': return checkFunctions(node.arg);
    case 'binary': checkFunctions(node.left); return checkFunctions(node.right);
    case 'cond': checkFunctions(node.test); checkFunctions(node.then); return checkFunctions(node.otherwise);
    case 'list': return node.items.forEach(checkFunctions);
    case 'map': return node.entries.forEach(([key, value]) => { checkFunctions(key); checkFunctions(value); });
    default: return;
  }
}

/** Throws CelUnsupported for syntax outside the subset. */
export function compileCel(source: string): CelProgram {
  let program = compiled.get(source);
  if (!program) {
    const root = new Parser(tokenize(source)).parse();
    checkFunctions(root);
    program = { source, root, usesOldSelf: /\boldSelf\b/.test(source) };
    compiled.set(source, program);
  }
  return program;
}
