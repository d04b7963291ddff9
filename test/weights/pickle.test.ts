import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { PickleObject, UnpicklingError, unpickle } from "../../src/weights/pickle.js";
import { fixturePath } from "../support/fixtures.js";

const allowOrderedDict = (module: string, name: string): unknown =>
  module === "collections" && name === "OrderedDict" ? () => new Map() : undefined;

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...Buffer.from(p, "latin1")] : p)));

/** The values tools/oracles/pth_fixtures.py pickles, as this unpickler represents them. */
function expectedValues(protocol: number): Map<unknown, unknown> {
  const values = new Map<unknown, unknown>([
    ["none", null],
    ["true", true],
    ["false", false],
    ["small", 7],
    ["byte", 255],
    ["short", 65535],
    ["int", -123456],
    ["int32_min", -(2 ** 31)],
    ["safe", 2 ** 53 - 1],
    ["big", 2n ** 70n],
    ["neg_big", -(2n ** 63n) - 1n],
    ["float", -1.25e-3],
    ["text", "héllo ✓"],
    ["long_text", "ab".repeat(200)],
    ["list", [1, [2, 3]]],
    ["tuple0", []],
    ["tuple1", [1]],
    ["tuple2", [1, 2]],
    ["tuple3", [1, 2, 3]],
    ["tuple4", [1, 2, 3, 4]],
    [
      "shared",
      [
        [1, 2],
        [1, 2],
      ],
    ],
    [
      "ordered",
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
    ],
    [
      "int_keys",
      new Map<number, string>([
        [0, "zero"],
        [-1, "minus one"],
      ]),
    ],
    ["long_list", Array.from({ length: 1200 }, (_, i) => i)],
  ]);
  if (protocol >= 3) values.set("bytes", new Uint8Array([0, 1, 255]));
  return values;
}

for (const protocol of [2, 3, 4, 5]) {
  test(`values pickled by CPython with protocol ${protocol} come back exactly`, () => {
    const file = `weights/values.p${protocol}.pkl`;
    const value = unpickle(readFileSync(fixturePath(file)), {
      resolveGlobal: allowOrderedDict,
      source: file,
    });
    assert.deepEqual(value, expectedValues(protocol));
    const shared = (value as Map<string, unknown[]>).get("shared")!;
    assert.equal(shared[0], shared[1], "a memoised list is one object, as in Python");
  });
}

test("a global the resolver does not allow is refused when named, before anything is called", () => {
  const calls: string[] = [];
  const resolveGlobal = (module: string, name: string) => {
    calls.push(`${module}.${name}`);
    return undefined;
  };
  const payload = bytes([0x80, 2], "cposix\nsystem\n", "X", [5, 0, 0, 0], "touch", [0x85], "R.");
  assert.throws(
    () => unpickle(payload, { resolveGlobal, source: "evil.pkl" }),
    (err: Error) =>
      err instanceof UnpicklingError &&
      err.message.startsWith("evil.pkl: global posix.system refused for safety") &&
      err.message.includes("torch.load(weights_only=True)"),
  );
  assert.deepEqual(calls, ["posix.system"]);
});

test("NEWOBJ and BUILD make an inert record of an allowed plain class", () => {
  const namespace = bytes(
    [0x80, 2],
    "cargparse\nNamespace\n)",
    [0x81],
    "}X",
    [2, 0, 0, 0],
    "lrG",
    [0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
    "sb.",
  );
  const value = unpickle(namespace, {
    resolveGlobal: (m, n) =>
      `${m}.${n}` === "argparse.Namespace" ? () => new PickleObject("argparse.Namespace") : undefined,
  });
  assert.ok(value instanceof PickleObject);
  assert.equal(value.className, "argparse.Namespace");
  assert.deepEqual(value.state, new Map([["lr", 1]]));
});

const malformed: [string, Uint8Array, string][] = [
  ["an extension-registry opcode (EXT1)", bytes([0x80, 2, 0x82, 1], "."), "unsupported pickle opcode 0x82"],
  ["a protocol-0 text opcode (INT)", bytes([0x80, 2], "I1\n."), "unsupported pickle opcode 0x49"],
  ["a string longer than the pickle", bytes([0x80, 2], "X", [0xff, 0, 0, 0], "ab."), "truncated pickle"],
  ["a missing STOP", bytes([0x80, 2], "N"), "truncated pickle"],
  ["two values at STOP", bytes([0x80, 2], "NN."), "STOP with 2 values"],
  ["SETITEM reaching below a MARK", bytes([0x80, 2], "}(Ns."), "stack underflow"],
  ["a memo read before it is written", bytes([0x80, 2], "h", [3], "."), "memo entry 3"],
  ["BUILD on a list", bytes([0x80, 2], "]}b."), "BUILD on a tuple/list of 0"],
  ["a persistent id without a loader", bytes([0x80, 2], "NQ."), "persistent ids are not allowed"],
  ["a list as a dict key", bytes([0x80, 2], "}]Ns."), "dict key a tuple/list of 0"],
  ["a protocol from the future", bytes([0x80, 6], "N."), "pickle protocol 6"],
];
for (const [what, payload, message] of malformed) {
  test(`malformed pickles are refused with a clear error: ${what}`, () => {
    assert.throws(
      () => unpickle(payload, { resolveGlobal: allowOrderedDict, source: "bad.pkl" }),
      (err: Error) =>
        err instanceof UnpicklingError &&
        err.message.startsWith("bad.pkl: ") &&
        err.message.includes(message),
    );
  });
}

test("every single-byte corruption of a CPython pickle gives a value or an UnpicklingError, never a crash", () => {
  const original = readFileSync(fixturePath("weights/values.p4.pkl"));
  for (let at = 0; at < original.length; at++)
    for (const mask of [0x01, 0xff]) {
      const corrupt = Uint8Array.from(original);
      corrupt[at] ^= mask;
      try {
        unpickle(corrupt, { resolveGlobal: allowOrderedDict });
      } catch (err) {
        assert.ok(err instanceof UnpicklingError, `byte ${at} ^ ${mask}: ${(err as Error).stack}`);
      }
    }
});

test("an 80 KB pickled integer (LONG4) decodes exactly, in linear time", () => {
  const n = 80_000;
  const length = [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0];
  const positive = [...new Array(n - 1).fill(0xff), 0x7f]; // little-endian 2^(8n−1) − 1
  const started = performance.now();
  const value = unpickle(bytes([0x80, 2, 0x8b], length, positive, "."), {
    resolveGlobal: () => undefined,
    source: "long.pkl",
  });
  const ms = performance.now() - started;
  assert.equal(value, (1n << BigInt(8 * n - 1)) - 1n);
  assert.ok(ms < 200, `${ms.toFixed(0)} ms (the byte-by-byte version took ~500 ms)`);
  assert.equal(
    unpickle(bytes([0x80, 2, 0x8b], length, new Array(n).fill(0xff), "."), {
      resolveGlobal: () => undefined,
      source: "minus-one.pkl",
    }),
    -1,
  );
  assert.equal(
    unpickle(bytes([0x80, 2, 0x8a, 2, 0x00, 0x80], "."), {
      resolveGlobal: () => undefined,
      source: "short.pkl",
    }),
    -32768,
  );
});
