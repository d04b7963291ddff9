import assert from "node:assert/strict";
import { test } from "node:test";
import type { TensorData } from "../../src/nn/module.js";
import { loadWeights } from "../../src/weights/index.js";
import { detectVitLayout, toDinoVitStateDict, VitKeysError } from "../../src/weights/vit-keys.js";
import { fixturePath } from "../support/fixtures.js";

// A one-block ViT under DINO's names, the same weights in a DINO full checkpoint (teacher under `backbone.`,
// a different student under `module.backbone.`) and under Hugging Face ViTModel's names (tools/oracles/pth_fixtures.py).
const load = (file: string) => loadWeights(fixturePath(`weights/${file}`));
const tensor = (...shape: number[]): TensorData => ({
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

function withPrefix(state: Map<string, TensorData>, prefix: string): Map<string, TensorData> {
  return new Map([...state].map(([k, t]) => [prefix + k, t]));
}

test("DINO (full checkpoint teacher), timm and Hugging Face layouts map to identical DINO state dicts", async () => {
  const expected = await load("vit_dino.expected.safetensors");
  const huggingFace = await load("vit_hf.safetensors");
  const timm = new Map([...expected, ["head.weight", tensor(10, 8)], ["head.bias", tensor(10)]]);
  const classifier = new Map([...withPrefix(huggingFace, "vit."), ["classifier.weight", tensor(10, 8)]]);
  for (const [source, state] of [
    ["DINO teacher", await load("dino_full_checkpoint.pth")],
    ["DINO backbone", expected],
    ["timm", timm],
    ["Hugging Face", huggingFace],
    ["Hugging Face classifier", classifier],
  ] as const)
    assert.deepEqual(toDinoVitStateDict(state), expected, source);
});

test("Hugging Face query, key and value stack into qkv in that order", async () => {
  const huggingFace = await load("vit_hf.safetensors");
  const qkv = toDinoVitStateDict(huggingFace).get("blocks.0.attn.qkv.weight")!;
  assert.deepEqual(qkv.shape, [24, 8]);
  ["query", "key", "value"].forEach((part, i) => {
    const weight = huggingFace.get(`encoder.layer.0.attention.attention.${part}.weight`)!.data;
    assert.deepEqual(qkv.data.subarray(64 * i, 64 * (i + 1)), weight, part);
  });
});

test("the backbone prefix is found from the sentinel key", async () => {
  const expected = await load("vit_dino.expected.safetensors");
  assert.deepEqual(detectVitLayout(withPrefix(expected, "module.backbone.").keys()), {
    layout: "dino",
    prefix: "module.backbone.",
  });
  assert.deepEqual(detectVitLayout((await load("vit_hf.safetensors")).keys()), {
    layout: "huggingface",
    prefix: "",
  });
});

test("unknown, ambiguous and partly foreign layouts are refused with the keys involved", async () => {
  const expected = await load("vit_dino.expected.safetensors");
  const cases: [string, Map<string, TensorData>, string][] = [
    [
      "a ResNet",
      new Map([
        ["conv1.weight", tensor(1)],
        ["fc.weight", tensor(1)],
      ]),
      "the 2 keys start conv1.weight, fc.weight",
    ],
    [
      "teacher and student together",
      new Map([...withPrefix(expected, "teacher."), ...withPrefix(expected, "student.")]),
      'several ViT backbones in one state dict, under "teacher.", "student."',
    ],
    [
      "timm with an average-pool fc_norm",
      new Map([...expected, ["fc_norm.weight", tensor(8)]]),
      "keys with no counterpart in DINO's ViT: fc_norm.weight",
    ],
    [
      "Hugging Face without a value projection",
      new Map(
        [...(await load("vit_hf.safetensors"))].filter(
          ([k]) => !k.includes("attention.attention.value.weight"),
        ),
      ),
      "blocks.0.attn.qkv.weight: the checkpoint lacks value",
    ],
  ];
  for (const [what, state, message] of cases)
    assert.throws(
      () => toDinoVitStateDict(state),
      (err: Error) => err instanceof VitKeysError && err.message.includes(message),
      what,
    );
});
