import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_MEAN, IMAGE_STD } from "../../src/data/preprocess.js";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { MobileNetBackbone } from "../../src/model/mobilenet-backbone.js";
import { MobileNetV2, type OutputStride } from "../../src/model/mobilenet-v2.js";
import { StateDictError } from "../../src/nn/module.js";
import { loadWeights } from "../../src/weights/index.js";
import {
  assertClose,
  counterUniform,
  Fixture,
  type ManifestEntry,
  manifestStateDict,
  onEveryKernelPath,
} from "../support/fixtures.js";

before(() => initEngine());

/** tools/oracles/mobilenet_v2_fixtures.mjs: nsfwjs's Keras graph run by tfjs-layers, generated and real weights. */
const fx = new Fixture("model/mobilenet_v2.safetensors");
const manifest = fx.config["weights"] as ManifestEntry[];
const cases = Object.keys(fx.config["cases"] as Record<string, unknown>);
const strides: Record<string, OutputStride> = { stride8: 8, stride16: 16, stride32: 32 };

/** A fixture image as nsfwjs feeds it: RGB pixels / 255. */
function fixtureImage(name: string): tf.Tensor4D {
  return fx.tensor(`input.${name}`).div(255) as tf.Tensor4D;
}

test("MobileNetV2 loaded under sseg's names matches nsfwjs's Keras graph at the stride-8, -16 and -32 outputs", () => {
  assertClose(
    { shape: [8], data: Float32Array.from(counterUniform(1, 8)) },
    fx.data("generator_check"),
    "weight generator",
  );
  const net = new MobileNetV2().eval();
  net.loadStateDict(manifestStateDict(manifest));
  onEveryKernelPath((path) => {
    for (const name of cases) {
      for (const [output, stride] of Object.entries(strides)) {
        tf.tidy(() => {
          const expected = fx.data(`${output}.${name}`);
          assertClose(net.forward(fixtureImage(name), stride), expected, `${output}.${name} (${path})`, 1e-4);
        });
      }
    }
  });
  net.dispose();
});

const converted = process.env["SSEG_MOBILENET_WEIGHTS"];
test("the converted nsfwjs weights give nsfwjs's own stride-8 activations", {
  skip: converted ? false : "set SSEG_MOBILENET_WEIGHTS to the converted mobilenet_v2_nsfwjs.safetensors",
}, async () => {
  const net = new MobileNetV2().eval();
  net.loadStateDict(await loadWeights(converted!));
  onEveryKernelPath((path) =>
    tf.tidy(() =>
      assertClose(
        net.forward(fixtureImage("64x64"), 8),
        fx.data("real.stride8.64x64"),
        `real weights, stride 8 (${path})`,
        1e-4,
      ),
    ),
  );
  net.dispose();
});

test("the trunk has Keras MobileNetV2's parameter counts and output shapes at every stride, several in one pass", () => {
  const net = new MobileNetV2({ rng: new Rng(3) }).eval();
  // keras.applications.MobileNetV2(include_top=False): 2,257,984 values, 34,112 of them BatchNorm statistics
  assert.equal(net.parameterCount(), 2_223_872);
  assert.equal(
    [...net.stateDict().values()].reduce((n, v) => n + v.size, 0),
    2_257_984,
  );
  const shapes: [OutputStride, number[]][] = [
    [2, [1, 32, 40, 16]],
    [4, [1, 16, 20, 24]],
    [8, [1, 8, 10, 32]],
    [16, [1, 4, 5, 96]],
    [32, [1, 2, 2, 1280]],
  ];
  tf.tidy(() => {
    const images = tf.randomUniform([1, 64, 80, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    for (const [stride, shape] of shapes)
      assert.deepEqual(net.forward(images, stride).shape, shape, `stride ${stride}`);
    const [stride16, stride8] = net.stageOutputs(images, [16, 8]);
    assert.deepEqual(stride16.dataSync(), net.forward(images, 16).dataSync(), "one pass, stride 16");
    assert.deepEqual(stride8.dataSync(), net.forward(images, 8).dataSync(), "one pass, stride 8");
  });
  net.dispose();
});

test("a state dict with a missing, renamed or mis-shaped key is refused with the key named", () => {
  const net = new MobileNetV2();
  const state = manifestStateDict(manifest);
  const weight = state.get("blocks.3.expand.conv.weight")!;
  state.delete("blocks.3.expand.conv.weight");
  state.set("blocks.3.expand.conv.kernel", weight);
  state.set("head.bn.bias", { shape: [320], data: new Float32Array(320) });
  assert.throws(
    () => net.loadStateDict(state),
    (err: Error) =>
      err instanceof StateDictError &&
      err.message.includes('missing key "blocks.3.expand.conv.weight" (expected shape [144,24,1,1])') &&
      err.message.includes('unexpected key "blocks.3.expand.conv.kernel"') &&
      err.message.includes('key "head.bn.bias": checkpoint shape [320] but the model expects [1280]'),
  );
  net.dispose();
});

test("bad inputs and output strides are clear errors", () => {
  const net = new MobileNetV2();
  tf.tidy(() => {
    assert.throws(
      () => net.forward(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D),
      /expected images \[B, H, W, 3\] but received \[1,32,32,1\]/,
    );
    assert.throws(
      () => net.forward(tf.zeros([1, 16, 64, 3]) as tf.Tensor4D, 32),
      /image size 16×64 \(H×W\) is smaller than the output stride 32/,
    );
    assert.throws(
      () => net.forward(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D, 64 as OutputStride),
      /outputStride must be one of 2, 4, 8, 16, 32, got 64/,
    );
  });
  net.dispose();
});

test("MobileNetBackbone: on ImageNet-normalised images, the stage ends of the plain trunk in eval mode on RGB / 255", () => {
  const backbone = new MobileNetBackbone({ kind: "mobilenet_v2", pretrained: true, lrScale: 0.1 }).train();
  const reference = new MobileNetV2().eval();
  backbone.trunk.loadStateDict(manifestStateDict(manifest));
  reference.loadStateDict(manifestStateDict(manifest));
  const shape = Object.values(backbone.outputShape());
  assert.deepEqual(
    shape.map(({ channels, stride }) => [channels, stride]),
    [
      [24, 4],
      [32, 8],
      [96, 16],
      [1280, 32],
    ],
  );
  // the norms are frozen: only the convolutions train
  assert.ok(backbone.namedParameters().every(([name]) => name.endsWith(".conv.weight")));
  const rgb = tf.randomUniform([2, 64, 64, 3], 0, 255, "float32", 7) as tf.Tensor4D;
  const normalised = tf.tidy(() => rgb.sub([...IMAGE_MEAN]).div([...IMAGE_STD])) as tf.Tensor4D;
  const features = Object.values(backbone.forward(normalised));
  const expected = reference.stageOutputs(rgb.div(255) as tf.Tensor4D, [4, 8, 16, 32]);
  features.forEach((feature, i) => {
    const { channels, stride } = shape[i];
    assert.deepEqual(feature.shape, [2, 64 / stride, 64 / stride, channels]);
    assertClose(
      feature,
      { shape: expected[i].shape, data: expected[i].dataSync<"float32">() },
      `stride ${stride}`,
      1e-4,
      1e-4,
    );
  });
  tf.dispose([rgb, normalised, ...features, ...expected]);
  backbone.dispose();
  reference.dispose();
});
