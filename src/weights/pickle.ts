/**
 * A restricted unpickler for the binary pickle protocols 2–5 (opcodes as in CPython's Lib/pickletools.py).
 * Unpickling is a small stack machine; what makes Python's unpickler dangerous is that GLOBAL may name any
 * callable and REDUCE calls it. Here every global goes through the caller's `resolveGlobal`: a global it does
 * not resolve is refused before anything is built, like torch.load(weights_only=True). Nothing in a pickle can
 * reach JavaScript code other than the values `resolveGlobal` hands out, and dicts are Maps, so keys from the
 * file never touch object prototypes.
 *
 * Python values come out as: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes/bytearray → Uint8Array, list and tuple → array, dict → Map, and instances of allowed
 * classes → whatever `resolveGlobal` builds (a `PickleObject` for plain records).
 */

export class UnpicklingError extends Error {
  override name = "UnpicklingError";
}

/** What REDUCE and NEWOBJ call: an allowed global applied to the pickled argument tuple. */
export type PickleCallable = (args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** The value of an allowed global (a PickleCallable if the pickle may call it); undefined refuses it. */
  resolveGlobal(module: string, name: string): unknown;
  /** Turns a persistent id (BINPERSID) into a value; without it persistent ids are refused. */
  persistentLoad?(pid: unknown): unknown;
  /** Names the pickle in errors (a file path, an archive entry). */
  source?: string;
}

/** An instance of an allowed plain class (e.g. argparse.Namespace): its class name and its pickled __dict__. */
export class PickleObject {
  state: unknown = null;
  constructor(readonly className: string) {}
}

const MAX_PROTOCOL = 5;

/** Opcodes of protocols 0–5 that this unpickler understands; everything else (EXT*, text opcodes) is refused. */
const Op = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  BINFLOAT: 0x47,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  APPENDS: 0x65,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  SETITEMS: 0x75,
  EMPTY_DICT: 0x7d,
  EMPTY_TUPLE: 0x29,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  LONG1: 0x8a,
  LONG4: 0x8b,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
} as const;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Unpickle `bytes`, allowing only the globals and persistent ids the options resolve. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const source = options.source ?? "<pickle>";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail: (message: string) => never = (message) => {
    throw new UnpicklingError(`${source}: ${message}`);
  };
  const need = (n: number): number => {
    if (pos + n > bytes.byteLength)
      fail(`truncated pickle: needs ${n} more bytes at byte ${pos} of ${bytes.byteLength}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const n = view.getBigUint64(need(8), true);
    if (n > BigInt(bytes.byteLength)) fail(`length ${n} at byte ${pos - 8} exceeds the pickle's size`);
    return Number(n);
  };
  const take = (n: number) => bytes.subarray(need(n), pos);
  const text = (n: number): string => {
    const raw = take(n);
    try {
      return utf8.decode(raw);
    } catch {
      return fail(`string at byte ${pos - n} is not valid UTF-8`);
    }
  };
  /** A text line for GLOBAL ("module\nname\n"). */
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`truncated pickle: unterminated GLOBAL operand at byte ${pos}`);
    const value = text(end - pos);
    pos++; // the newline
    return value;
  };
  /** Values below the innermost MARK belong to an enclosing collection, as in CPython's metastack. */
  const top = (): unknown => {
    if (stack.length <= (marks.length > 0 ? marks[marks.length - 1] : 0))
      fail(`stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const pop = (): unknown => {
    const value = top();
    stack.pop();
    return value;
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) return fail(`MARK expected before byte ${pos - 1}`);
    return stack.splice(mark);
  };
  const dictAt = (target: unknown): Map<unknown, unknown> =>
    target instanceof Map ? target : fail(`SETITEM(S) on ${describe(target)}, not a dict`);
  const listAt = (target: unknown): unknown[] =>
    Array.isArray(target) ? target : fail(`APPEND(S) on ${describe(target)}, not a list`);
  const setItems = (dict: Map<unknown, unknown>, items: unknown[]) => {
    if (items.length % 2 !== 0) fail(`odd number of items for a dict at byte ${pos - 1}`);
    for (let i = 0; i < items.length; i += 2) dict.set(hashable(items[i]), items[i + 1]);
  };
  const hashable = (key: unknown): unknown =>
    key === null || ["string", "number", "bigint", "boolean"].includes(typeof key)
      ? key
      : fail(`dict key ${describe(key)} is not a str, int, float, bool or None`);
  const global = (module: string, name: string) => {
    const value = options.resolveGlobal(module, name);
    if (value === undefined)
      fail(
        `global ${module}.${name} refused for safety: only allow-listed globals are loaded, ` +
          "like torch.load(weights_only=True)",
      );
    stack.push(value);
  };
  const call = (callable: unknown, args: unknown, opcode: string) => {
    if (typeof callable !== "function") fail(`${opcode} on ${describe(callable)}, which is not callable`);
    if (!Array.isArray(args)) fail(`${opcode} arguments are ${describe(args)}, not a tuple`);
    stack.push((callable as PickleCallable)(args));
  };
  const memoGet = (index: number) =>
    memo.has(index) ? stack.push(memo.get(index)) : fail(`memo entry ${index} read before it was written`);

  for (;;) {
    const at = pos;
    const opcode = u8();
    switch (opcode) {
      case Op.PROTO: {
        const protocol = u8();
        if (protocol > MAX_PROTOCOL) fail(`pickle protocol ${protocol} is newer than ${MAX_PROTOCOL}`);
        break;
      }
      case Op.FRAME:
        u64(); // frames only group opcodes for buffered reading
        break;
      case Op.STOP:
        if (stack.length !== 1 || marks.length > 0)
          fail(`STOP with ${stack.length} values on the stack (expected exactly one)`);
        return stack[0];
      case Op.MARK:
        marks.push(stack.length);
        break;
      case Op.POP:
        pop();
        break;
      case Op.POP_MARK:
        popMark();
        break;
      case Op.DUP:
        stack.push(top());
        break;
      case Op.NONE:
        stack.push(null);
        break;
      case Op.NEWTRUE:
        stack.push(true);
        break;
      case Op.NEWFALSE:
        stack.push(false);
        break;
      case Op.BININT:
        stack.push(view.getInt32(need(4), true));
        break;
      case Op.BININT1:
        stack.push(u8());
        break;
      case Op.BININT2:
        stack.push(u16());
        break;
      case Op.LONG1:
        stack.push(decodeLong(take(u8())));
        break;
      case Op.LONG4:
        stack.push(decodeLong(take(u32())));
        break;
      case Op.BINFLOAT:
        stack.push(view.getFloat64(need(8), false));
        break;
      case Op.SHORT_BINUNICODE:
        stack.push(text(u8()));
        break;
      case Op.BINUNICODE:
        stack.push(text(u32()));
        break;
      case Op.BINUNICODE8:
        stack.push(text(u64()));
        break;
      case Op.SHORT_BINBYTES:
        stack.push(new Uint8Array(take(u8())));
        break;
      case Op.BINBYTES:
        stack.push(new Uint8Array(take(u32())));
        break;
      case Op.BINBYTES8:
      case Op.BYTEARRAY8:
        stack.push(new Uint8Array(take(u64())));
        break;
      case Op.EMPTY_TUPLE:
        stack.push([]);
        break;
      case Op.TUPLE1:
        stack.push([pop()]);
        break;
      case Op.TUPLE2: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case Op.TUPLE3: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case Op.TUPLE:
      case Op.LIST:
        stack.push(popMark());
        break;
      case Op.EMPTY_LIST:
        stack.push([]);
        break;
      case Op.APPEND: {
        const item = pop();
        listAt(top()).push(item);
        break;
      }
      case Op.APPENDS: {
        const items = popMark();
        const list = listAt(top());
        for (const item of items) list.push(item); // no spread: a batch may exceed the argument limit
        break;
      }
      case Op.EMPTY_DICT:
        stack.push(new Map());
        break;
      case Op.DICT: {
        const dict = new Map<unknown, unknown>();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case Op.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(dictAt(top()), [key, value]);
        break;
      }
      case Op.SETITEMS: {
        const items = popMark();
        setItems(dictAt(top()), items);
        break;
      }
      case Op.GLOBAL: {
        const module = line();
        global(module, line());
        break;
      }
      case Op.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string")
          return fail(`STACK_GLOBAL operands are ${describe(module)} and ${describe(name)}, not strings`);
        global(module, name);
        break;
      }
      case Op.REDUCE: {
        const args = pop();
        call(pop(), args, "REDUCE");
        break;
      }
      case Op.NEWOBJ: {
        const args = pop();
        call(pop(), args, "NEWOBJ");
        break;
      }
      case Op.BUILD: {
        const state = pop();
        const target = top();
        if (target instanceof PickleObject) target.state = state;
        // A dict subclass's instance attributes (state_dict()'s _metadata) hold no tensors: dropped.
        else if (!(target instanceof Map)) fail(`BUILD on ${describe(target)} is not supported`);
        break;
      }
      case Op.BINPERSID: {
        const pid = pop();
        if (!options.persistentLoad) return fail("persistent ids are not allowed in this pickle");
        stack.push(options.persistentLoad(pid));
        break;
      }
      case Op.BINPUT:
        memo.set(u8(), top());
        break;
      case Op.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case Op.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case Op.BINGET:
        memoGet(u8());
        break;
      case Op.LONG_BINGET:
        memoGet(u32());
        break;
      default:
        fail(
          `unsupported pickle opcode 0x${opcode.toString(16).padStart(2, "0")} ` +
            `(${JSON.stringify(String.fromCharCode(opcode))}) at byte ${at}`,
        );
    }
  }
}

/**
 * A little-endian two's-complement integer (LONG1/LONG4): a number when exact, else a bigint. Parsed from one hex
 * string, linear in its length (shifting a growing bigint byte by byte was quadratic: 0.5 s for 80 KB).
 */
function decodeLong(digits: Uint8Array): number | bigint {
  const hex = new Array<string>(digits.length);
  for (let i = 0; i < digits.length; i++) hex[digits.length - 1 - i] = HEX_BYTE[digits[i]];
  let value = digits.length > 0 ? BigInt(`0x${hex.join("")}`) : 0n;
  if (digits.length > 0 && digits[digits.length - 1] & 0x80) value -= 1n << BigInt(8 * digits.length);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** A short description of a pickled value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "None";
  if (Array.isArray(value)) return `a tuple/list of ${value.length}`;
  if (value instanceof Map) return `a dict of ${value.size}`;
  if (value instanceof Uint8Array) return `bytes of length ${value.length}`;
  if (value instanceof PickleObject) return `a ${value.className}`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "function") return "a callable global";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "object"}`;
  return `${typeof value} ${String(value)}`;
}
