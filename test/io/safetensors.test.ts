import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeSafetensors, parseSafetensors, toFloat32, toInt32 } from "../../src/io/safetensors.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors-file.js";
import { fixturePath } from "../support/fixtures.js";

// Written by tools/oracles/safetensors_fixtures.py: float32 values and their numpy F16 / torch BF16 encodings.
const halfs = parseSafetensors(new Uint8Array(readFileSync(fixturePath("io/halfs.safetensors"))), "halfs");
const reference = toFloat32(halfs.tensors.get("f32")!);

test("F16 and BF16 written by numpy/torch decode to the correctly rounded values", () => {
  const f16 = toFloat32(halfs.tensors.get("f16")!);
  const bf16 = toFloat32(halfs.tensors.get("bf16")!);
  for (let i = 0; i < reference.length; i++) {
    const x = reference[i];
    if (Math.abs(x) < 65504) {
      assert.ok(
        Math.abs(f16[i] - x) <= Math.abs(x) * 2 ** -11 + 2 ** -25,
        `f16 of ${x} decoded as ${f16[i]}`,
      );
    }
    if (Math.abs(x) < 3.38e38)
      assert.ok(Math.abs(bf16[i] - x) <= Math.abs(x) * 2 ** -8, `bf16 of ${x} → ${bf16[i]}`);
    else assert.equal(Math.abs(bf16[i]), Number.POSITIVE_INFINITY); // beyond bf16's range it overflows, as in torch
  }
});

test("our F16 and BF16 encodings are bit-identical to numpy's and torch's (round to nearest even)", () => {
  for (const dtype of ["F16", "BF16"] as const) {
    const ours = parseSafetensors(
      encodeSafetensors({ x: { shape: [reference.length], data: reference, dtype } }),
    );
    assert.deepEqual(
      ours.tensors.get("x")!.bytes,
      halfs.tensors.get(dtype.toLowerCase())!.bytes,
      `${dtype} bytes`,
    );
  }
});

test("I64 tensors read as int32, and metadata strings survive", () => {
  assert.deepEqual([...toInt32(halfs.tensors.get("i64")!)], [-3, 0, 7, 2 ** 31 - 1]);
  assert.equal(halfs.metadata["note"], "written by tools/oracles/safetensors_fixtures.py");
});

test("write → read round trip keeps names, shapes, values, dtypes and metadata; no temp file is left", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-st-"));
  const path = join(dir, "model.safetensors");
  const weights = new Float32Array([1.5, -2, 3.25, 0, 1e-3, 7]);
  await writeSafetensors(
    path,
    {
      "blocks.0.weight": { shape: [2, 3], data: weights },
      "blocks.0.half": { shape: [6], data: weights, dtype: "F16" },
      ids: { shape: [3], data: new Int32Array([5, -1, 9]) },
    },
    { config: JSON.stringify({ depth: 2 }) },
  );
  const file = await readSafetensors(path);
  assert.deepEqual([...file.tensors.keys()], ["blocks.0.weight", "blocks.0.half", "ids"]);
  assert.deepEqual(file.tensors.get("blocks.0.weight")!.shape, [2, 3]);
  assert.deepEqual(toFloat32(file.tensors.get("blocks.0.weight")!), weights);
  assert.equal(file.tensors.get("blocks.0.half")!.dtype, "F16");
  assert.deepEqual([...toInt32(file.tensors.get("ids")!)], [5, -1, 9]);
  assert.deepEqual(JSON.parse(file.metadata["config"]), { depth: 2 });
  assert.deepEqual(await readdir(dir), ["model.safetensors"]);
});

test("encode refuses data whose length does not match the shape", () => {
  assert.throws(
    () => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
    /tensor "w": shape \[2,2\] has 4 elements but data has 3/,
  );
});

function withHeader(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test("corrupt files give errors that name the file and the problem", async () => {
  const good = encodeSafetensors({
    a: { shape: [4], data: new Float32Array(4) },
    b: { shape: [2], data: new Float32Array(2) },
  });
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(3), /x\.st: not a safetensors file: 3 bytes/],
    [
      good.subarray(0, good.length - 5),
      /x\.st: truncated: tensor "b" ends at byte 24 but the data section has 19/,
    ],
    [good.subarray(0, 20), /x\.st: truncated: header says \d+ bytes/],
    [
      withHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, 4),
      /tensor "a": 4 bytes stored but F32\[2\] needs 8/,
    ],
    [
      withHeader({ a: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }, 8),
      /tensor "a": unsupported dtype "Q4"/,
    ],
    [withHeader({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), /shape \[-1\] is not a list/],
    [
      withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8),
      /gap in the data section before tensor "a"/,
    ],
    [
      withHeader(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        },
        8,
      ),
      /tensor "b" overlaps/,
    ],
    [
      withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 12),
      /8 trailing bytes not owned by any tensor/,
    ],
    [withHeader([1, 2]), /header is not a JSON object/],
    [withHeader({ __metadata__: { k: 3 } }), /__metadata__\["k"\] is not a string/],
  ];
  const bigHeader = new Uint8Array(16);
  new DataView(bigHeader.buffer).setBigUint64(0, 2n ** 40n, true);
  cases.push([bigHeader, /header length 1099511627776 exceeds 100000000 bytes/]);
  const notJson = withHeader({});
  notJson.set(new TextEncoder().encode("{x"), 8);
  cases.push([notJson, /header is not valid UTF-8 JSON/]);
  for (const [bytes, pattern] of cases) assert.throws(() => parseSafetensors(bytes, "x.st"), pattern);
  const dir = await mkdtemp(join(tmpdir(), "sseg-st-"));
  await writeFile(join(dir, "empty.safetensors"), new Uint8Array(0));
  await assert.rejects(
    readSafetensors(join(dir, "empty.safetensors")),
    /empty\.safetensors: not a safetensors file: 0 bytes/,
  );
  await assert.rejects(
    readSafetensors(join(dir, "missing.safetensors")),
    /missing\.safetensors: cannot read \(ENOENT\)/,
  );
});
