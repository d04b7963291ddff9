import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CheckpointError } from "../../src/io/checkpoint-error.js";
import { readSafetensors } from "../../src/io/safetensors-file.js";
import { loadWeights } from "../../src/weights/index.js";
import { PickleObject, UnpicklingError } from "../../src/weights/pickle.js";
import { findStateDict, readTorchStateDict, TorchCheckpoint } from "../../src/weights/pth.js";
import { assertRejectsWith } from "../support/errors.js";
import { fixturePath } from "../support/fixtures.js";

// All written by tools/oracles/pth_fixtures.py.
const tensorsPth = fixturePath("weights/tensors.pth");
const expectedPath = fixturePath("weights/tensors.expected.safetensors");
/** The file the malicious pickles would create if they were ever run. */
const MALICIOUS_OUTPUT = "sseg-weights-pwned"; // relative: the shell command would run in the working directory

async function tempFile(name: string, contents: Uint8Array | string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "sseg-pth-")), name);
  await writeFile(path, contents);
  return path;
}

test("every dtype, strided view and offset view of a torch.save state dict reads as PyTorch holds it", async () => {
  const expected = await loadWeights(expectedPath);
  assert.deepEqual(await loadWeights(tensorsPth), expected);
  const dtypes = JSON.parse((await readSafetensors(expectedPath)).metadata["dtypes"]);
  const stored = await readTorchStateDict(tensorsPth);
  assert.deepEqual(Object.fromEntries([...stored].map(([name, t]) => [name, t.dtype])), dtypes);
});

test("views keep their offset and stride into the one storage they share", async () => {
  const checkpoint = await TorchCheckpoint.open(tensorsPth);
  try {
    const state = findStateDict(checkpoint.root, tensorsPth);
    const [offsetView, stridedView, whole] = ["view_offset", "view_strided", "view_whole"].map(
      (k) => state.get(k)!,
    );
    assert.equal(offsetView.storage, whole.storage);
    assert.equal(stridedView.storage, whole.storage);
    assert.deepEqual([offsetView.storageOffset, offsetView.shape, offsetView.stride], [2, [2, 3], [3, 1]]);
    assert.deepEqual([stridedView.storageOffset, stridedView.shape, stridedView.stride], [10, [5], [2]]);
    assert.deepEqual(state.get("transposed")!.stride, [1, 5]);
    assert.deepEqual(state.get("expanded")!.stride, [1, 0]);
  } finally {
    await checkpoint.close();
  }
});

test("deflated entries and ZIP64 records read the same as torch's stored zip", async () => {
  assert.deepEqual(
    await readTorchStateDict(fixturePath("weights/tensors_zip64_deflated.pth")),
    await readTorchStateDict(tensorsPth),
  );
});

test("a DINO full training checkpoint yields its teacher; args load as an inert Namespace record", async () => {
  const path = fixturePath("weights/dino_full_checkpoint.pth");
  const weights = await loadWeights(path);
  assert.ok(weights.has("backbone.blocks.0.attn.qkv.weight"));
  assert.ok(weights.has("head.weight"));
  assert.ok(
    ![...weights.keys()].some((k) => k.startsWith("module.")),
    "the student (module.*) was taken instead of the teacher",
  );
  const checkpoint = await TorchCheckpoint.open(path);
  await checkpoint.close();
  const root = checkpoint.root as Map<string, unknown>;
  assert.equal(root.get("epoch"), 3);
  const args = root.get("args");
  assert.ok(args instanceof PickleObject && args.className === "argparse.Namespace");
  const fields = args.state as Map<string, unknown>;
  assert.equal(fields.get("arch"), "vit_tiny");
  assert.deepEqual(fields.get("local_crops_scale"), [0.05, 0.4]);
});

test("findStateDict names the keys it saw when there is no state dict", () => {
  const tensorless = new Map<unknown, unknown>([
    ["epoch", 3],
    ["args", null],
  ]);
  assert.throws(
    () => findStateDict(tensorless, "run.pth"),
    (err: Error) =>
      err instanceof CheckpointError &&
      err.message.includes('run.pth: no state dict found: the checkpoint has keys "epoch", "args"'),
  );
  assert.throws(
    () => findStateDict(new Map([["model", [1, 2]]]), "run.pth"),
    /the checkpoint\["model"\] is a tuple\/list of 2, not a dict of tensors/,
  );
});

for (const [file, global] of [
  ["malicious_system.pth", "posix.system"],
  ["malicious_eval.pth", "builtins.eval"],
]) {
  test(`${file}: the ${global} payload is refused and never runs`, async () => {
    rmSync(MALICIOUS_OUTPUT, { force: true });
    const path = fixturePath(`weights/${file}`);
    await assertRejectsWith(
      loadWeights(path),
      UnpicklingError,
      path,
      `global ${global} refused for safety`,
      "weights_only=True",
    );
    assert.equal(existsSync(MALICIOUS_OUTPUT), false, `${MALICIOUS_OUTPUT} was created`);
  });
}

test("a truncated checkpoint is refused with an error naming the file", async () => {
  const path = fixturePath("weights/truncated.pth");
  await assertRejectsWith(loadWeights(path), CheckpointError, path, "truncated or not a zip archive");
});

test("a corrupted storage fails its CRC check", async () => {
  const bytes = readFileSync(tensorsPth);
  const expected = (await loadWeights(expectedPath)).get("float32")!.data;
  const at = bytes.indexOf(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
  assert.ok(at > 0, "the float32 tensor's bytes are stored verbatim");
  bytes[at + 5] ^= 0x10;
  const path = await tempFile("corrupt.pth", bytes);
  await assertRejectsWith(loadWeights(path), CheckpointError, path, "CRC-32 mismatch");
});

test("legacy (pre-1.6) checkpoints, other files and unknown extensions get clear errors", async () => {
  const legacyMagic = Uint8Array.from([
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
  ]);
  const legacy = await tempFile("old.pth", legacyMagic);
  await assertRejectsWith(
    loadWeights(legacy),
    CheckpointError,
    legacy,
    "legacy torch.save format not supported; re-save with torch >= 1.6",
  );
  const text = await tempFile("notes.pt", "not weights");
  await assertRejectsWith(loadWeights(text), CheckpointError, text, "not a PyTorch checkpoint");
  await assertRejectsWith(
    loadWeights("/nonexistent/model.pth"),
    CheckpointError,
    "/nonexistent/model.pth",
    "ENOENT",
  );
  await assertRejectsWith(loadWeights("model.onnx"), CheckpointError, 'unknown weights format ".onnx"');
});

test("every single-byte corruption of a zip directory record gives the tensors or a CheckpointError", async () => {
  const expected = await readTorchStateDict(tensorsPth);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  for (const file of ["tensors.pth", "tensors_zip64_deflated.pth"]) {
    const original = readFileSync(fixturePath(`weights/${file}`));
    // Every central header has the same fields: flipping the first one's bytes and the end records' covers them all.
    const firstHeader = original.indexOf("PK\x01\x02");
    const secondHeader = original.indexOf("PK\x01\x02", firstHeader + 4);
    const endRecords = original.lastIndexOf(original.includes("PK\x06\x06") ? "PK\x06\x06" : "PK\x05\x06");
    const path = await tempFile(file, original);
    for (const at of [...range(firstHeader, secondHeader), ...range(endRecords, original.length)]) {
      const corrupt = Uint8Array.from(original);
      corrupt[at] ^= 0xff;
      await writeFile(path, corrupt);
      try {
        assert.deepEqual(await readTorchStateDict(path), expected, `${file} byte ${at}`);
      } catch (err) {
        assert.ok(
          err instanceof CheckpointError || err instanceof UnpicklingError,
          `${file} byte ${at}: ${(err as Error).stack}`,
        );
      }
    }
  }
});

for (const [file, expected] of [
  ["bomb.pth", /data\/0: corrupt deflate data \(.*\)/],
  ["forged_size.pth", /data\/0: claims 3000000000 bytes from \d+ compressed, beyond what deflate can encode/],
  [
    "stride0.pth",
    /tensor "weight" \(shape \[600000000\], stride \[0\]\) expands a storage of 1 elements to 600000000/,
  ],
] as const) {
  test(`${file}: a small file that would need gigabytes is refused, peak memory under 300 MB`, () => {
    const path = fixturePath(`weights/${file}`);
    const loader = new URL("../../src/weights/index.js", import.meta.url).href;
    const script = `import { loadWeights } from ${JSON.stringify(loader)};
try { await loadWeights(${JSON.stringify(path)}); console.log("loaded"); } catch (err) { console.log(err.message); }
console.log(process.resourceUsage().maxRSS);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const [message, maxRssKb] = r.stdout.trim().split("\n");
    assert.ok(message.startsWith(path), message);
    assert.match(message, expected);
    assert.ok(Number(maxRssKb) < 300 * 1024, `peak RSS ${(Number(maxRssKb) / 1024).toFixed(0)} MB`);
  });
}
