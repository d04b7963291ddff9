import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { loadSegmenter } from "../../src/infer/load.js";
import { refineScores } from "../../src/infer/pamr.js";
import {
  applyBackground,
  NO_OBJECT,
  type Prediction,
  rankPixels,
  type Segmenter,
  SegmenterError,
  slidingWindows,
  withMirror,
} from "../../src/infer/segmenter.js";
import { classEmbeddings, pixelPredictions } from "../../src/infer/semantic.js";
import { CheckpointError } from "../../src/io/checkpoint-error.js";
import { writeSafetensors } from "../../src/io/safetensors-file.js";
import { micro } from "../../src/model/presets.js";
import { TEMPLATE_PRESETS } from "../../src/model/prompts.js";
import { SSegModel } from "../../src/model/sseg.js";
import { l2Normalize } from "../../src/nn/normalize.js";
import { ClipTokenizer } from "../../src/text/tokenizer.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";
import { saveMicroRun, stateOf } from "../support/configs.js";
import { assertRejectsWith } from "../support/errors.js";
import { tempDir } from "../support/temp.js";

before(() => initEngine());

/** A 3-channel test image with a bright square on a dark ground. */
function squareImage(width: number, height: number) {
  const data = new Uint8Array(width * height * 3).fill(30);
  for (let y = height / 4; y < (3 * height) / 4; y++)
    for (let x = width / 4; x < (3 * width) / 4; x++)
      data.fill(220, 3 * (y * width + x), 3 * (y * width + x) + 3);
  return { data, width, height, channels: 3 };
}

async function withSegmenter(run: (seg: Segmenter) => Promise<void>): Promise<void> {
  const seg = await loadSegmenter({ untrained: micro, seed: 3 });
  try {
    await run(seg);
  } finally {
    seg.dispose();
  }
}

test("class embeddings average the projected prompts over templates, then normalise", async () => {
  const model = new SSegModel(micro).eval();
  const tokenizer = await ClipTokenizer.load();
  const templates = TEMPLATE_PRESETS.groupvit;
  const averaged = classEmbeddings(model, tokenizer, ["cat", "dog"], templates);
  const perTemplate = templates.map((t) =>
    tf.tidy(() => {
      const tokens = tokenizer.tokenize(
        ["cat", "dog"].map((n) => t.replace("{}", n)),
        77,
      );
      return model.textFeatures(tf.tensor2d(tokens, [2, 77], "int32"));
    }),
  );
  const expected = tf.tidy(() => {
    const mean = tf.stack(perTemplate).mean(0);
    return mean.div(mean.norm("euclidean", -1, true));
  });
  assert.ok(tf.tidy(() => averaged.sub(expected).abs().max().dataSync()[0]) < 1e-5);
  tf.dispose([averaged, expected, ...perTemplate]);
  model.dispose();
});

test('a class name with synonyms ("cat|kitten") averages all their prompts; it is labelled by its first word', async () => {
  const model = new SSegModel(micro).eval();
  const tokenizer = await ClipTokenizer.load();
  const templates = ["a photo of a {}.", "art of the {}."];
  const [withSynonyms, words] = [
    classEmbeddings(model, tokenizer, ["dog", "cat|kitten"], templates),
    classEmbeddings(model, tokenizer, ["dog", "cat", "kitten"], ["a photo of a {}."]),
  ];
  const expected = tf.tidy(() => {
    const features = (names: string[]) =>
      model.textFeatures(tf.tensor2d(tokenizer.tokenize(names, 77), [names.length, 77], "int32"));
    const cat = features([
      "a photo of a cat.",
      "art of the cat.",
      "a photo of a kitten.",
      "art of the kitten.",
    ]).mean(0);
    return cat.div(cat.norm());
  });
  assert.ok(
    tf.tidy(() => withSynonyms.slice([1, 0], [1, -1]).squeeze().sub(expected).abs().max().dataSync()[0]) <
      1e-5,
  );
  assert.ok(
    tf.tidy(
      () =>
        withSynonyms
          .slice([1, 0], [1, -1])
          .sub(words.slice([1, 0], [1, -1]))
          .abs()
          .max()
          .dataSync()[0],
    ) > 1e-4,
  );
  tf.dispose([withSynonyms, words, expected]);
  model.dispose();

  await withSegmenter(async (seg) => {
    const result = await seg.segment(squareImage(40, 32), ["sky|heaven", "grass"], { background: false });
    assert.deepEqual(result.classes, ["sky", "grass"]);
    assert.ok(result.segments.every((s) => s.label === "sky" || s.label === "grass"));
    await assert.rejects(
      seg.segment(squareImage(40, 32), ["cat|kitten", "cat"]),
      /class name "cat" is given twice/,
    );
    await assert.rejects(
      seg.segment(squareImage(40, 32), ["cat| "]),
      /class name "cat\| " has an empty synonym/,
    );
  });
});

test("pixel predictions: scores are a convex mix per pixel at the input size; one query map", async () => {
  const model = new SSegModel(micro).eval();
  const classes = classEmbeddings(
    model,
    await ClipTokenizer.load(),
    ["cat", "dog", "tree"],
    ["a photo of a {}."],
  );
  const images = tf.randomNormal([2, 64, 96, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const out = pixelPredictions(model, images, classes);
  assert.deepEqual(out.scores.shape, [2, 64, 96, 3]);
  assert.deepEqual(out.queries.shape, [2, 64, 96]);
  for (const s of out.scores.sum(3).dataSync()) assert.ok(Math.abs(s - 1) < 1e-4, `per-pixel sum ${s}`);
  const ids = out.queries.dataSync();
  assert.ok(ids.every((q) => q >= 0 && q < micro.decoder.queries));
  // per image, the mean cosine between its different query embeddings, by hand
  const expectedCosine = tf.tidy(() => {
    const unit = l2Normalize(model.queryEmbeddingsProjected(model.forwardImages(images).queryEmbeddings));
    return tf.unstack(unit).map((rows) => {
      const n = rows.shape[0];
      const sims = rows.matMul(rows, false, true).arraySync() as number[][];
      let sum = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) sum += sims[i][j];
      return sum / (n * n - n);
    });
  });
  const cosines = out.queryCosine.dataSync();
  for (const [b, c] of expectedCosine.entries())
    assert.ok(Math.abs(cosines[b] - c) < 1e-5, `image ${b}: ${cosines[b]} vs ${c}`);

  // "winner": each pixel's scores are exactly the class probabilities of its most confident query
  const winner = pixelPredictions(model, images, classes, "winner");
  assert.deepEqual(winner.queries.dataSync(), ids);
  const probabilities = tf.tidy(() => {
    const queries = model.queryEmbeddingsProjected(model.forwardImages(images).queryEmbeddings);
    return tf.softmax(
      tf
        .matMul(queries, tf.tile(classes.expandDims(0), [2, 1, 1]), false, true)
        .mul(model.logitScale.scale()),
    );
  });
  const [p, w] = [probabilities.dataSync(), winner.scores.dataSync()];
  const q = micro.decoder.queries;
  for (let pixel = 0; pixel < 2 * 64 * 96; pixel += 211) {
    const b = Math.floor(pixel / (64 * 96));
    for (let c = 0; c < 3; c++)
      assert.ok(
        Math.abs(w[pixel * 3 + c] - p[(b * q + ids[pixel]) * 3 + c]) < 1e-6,
        `pixel ${pixel} class ${c}`,
      );
  }
  tf.dispose([
    classes,
    images,
    out.scores,
    out.queries,
    out.queryLogits,
    out.queryCosine,
    probabilities,
    ...Object.values(winner),
  ]);
  model.dispose();
});

test("segment returns labels, named segments and opt-in scores at the input's own size", async () => {
  await withSegmenter(async (seg) => {
    const image = squareImage(90, 50);
    const result = await seg.segment(image, ["cat", "dog", "grass"], { background: false, scores: true });
    assert.equal(result.width, 90);
    assert.equal(result.height, 50);
    assert.equal(result.labelMap.length, 90 * 50);
    assert.ok(
      result.labelMap.every((l) => l >= 1 && l <= 3),
      "no background without a background rule",
    );
    const pixels = result.segments.reduce((n, s) => n + s.pixels, 0);
    assert.equal(pixels, 90 * 50);
    for (const s of result.segments) {
      const label = result.classes.indexOf(s.label) + 1;
      assert.equal(
        s.mask.reduce((n, m) => n + m, 0),
        s.pixels,
      );
      assert.ok(s.mask.every((m, p) => m === (result.labelMap[p] === label ? 1 : 0)));
      assert.ok(s.score > 0 && s.score <= 1);
    }
    assert.equal(result.scores?.length, 3 * 90 * 50);
    const [p, hw] = [17 * 90 + 40, 90 * 50];
    const column = [0, 1, 2].map((k) => result.scores?.[k * hw + p] ?? Number.NaN);
    assert.equal(result.labelMap[p], column.indexOf(Math.max(...column)) + 1, "label = best score + 1");
  });
});

test("the threshold rule is GroupViT's (min of θ and the image's best score); background words map to 0", () => {
  // 3 pixels; names: cat, dog, then the background word sky
  const prediction: Prediction = {
    width: 3,
    height: 1,
    names: ["cat", "dog", "sky"],
    scores: Float32Array.from([0.6, 0.3, 0.1, 0.2, 0.3, 0.5, 0.1, 0.1, 0.8]),
    queries: new Uint16Array(3),
    queryCosine: 0,
  };
  assert.deepEqual([...applyBackground(prediction, 2, { threshold: 0.5 })], [1, 0, 0]);
  assert.deepEqual([...applyBackground(prediction, 2, { threshold: 0.9 })], [1, 0, 0], "θ above every score");
  assert.deepEqual([...applyBackground(prediction, 2, false)], [1, 2, 1]);
  assert.deepEqual([...applyBackground(prediction, 2, { classes: ["sky"] })], [1, 0, 0]);
  assert.deepEqual([...applyBackground(prediction, 2, { threshold: 0.25 })], [1, 2, 0]);
});

test("a region head's model: every name scored by region embeddings, the no-object class last wins background", async () => {
  const config = { ...micro, regions: { hiddenDim: 8, withQuery: false } };
  const seg = await loadSegmenter({ untrained: config, seed: 4 });
  try {
    const image = squareImage(64, 64);
    const prediction = seg.predict(image, ["cat", "dog"], { background: { classes: ["sky"] } });
    assert.deepEqual(prediction.names, ["cat", "dog", "sky", NO_OBJECT]);
    const pixels = image.width * image.height;
    for (let p = 0; p < pixels; p += 97) {
      const sum = [0, 1, 2, 3].reduce((total, k) => total + prediction.scores[p * 4 + k], 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `scores of pixel ${p} sum to ${sum}`);
    }
    const noObject = applyBackground(prediction, 2, { noObject: true });
    const ranked = rankPixels(prediction, 2, 4);
    for (let p = 0; p < pixels; p++) assert.equal(noObject[p] === 0, ranked.best[p] >= 2, `pixel ${p}`);
    const labels = (await seg.segment(image, ["cat", "dog"], { background: { noObject: true } })).labelMap;
    assert.equal(labels.length, pixels);
  } finally {
    seg.dispose();
  }
});

test("sliding windows follow mmseg: a grid at the stride, the last window clamped to the border", () => {
  assert.deepEqual(slidingWindows(597, 448, 448, 224), [
    { x: 0, y: 0, width: 448, height: 448 },
    { x: 149, y: 0, width: 448, height: 448 },
  ]);
  assert.deepEqual(slidingWindows(100, 60, 128, 64), [{ x: 0, y: 0, width: 100, height: 60 }]);
  assert.equal(slidingWindows(1000, 500, 448, 224).length, 4 * 2);
});

test("slide mode covers the image with windows and gives per-pixel scores that still sum to 1", async () => {
  await withSegmenter(async (seg) => {
    const result = await seg.segment(squareImage(160, 64), ["cat", "dog"], {
      mode: "slide",
      crop: 64,
      stride: 32,
      scores: true,
    });
    assert.equal(result.labelMap.length, 160 * 64);
    const hw = 160 * 64;
    for (let p = 0; p < hw; p += 97) {
      const sum = (result.scores?.[p] ?? 0) + (result.scores?.[hw + p] ?? 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `pixel ${p}: ${sum}`);
    }
  });
});

test("flip averages each window's scores with its mirrored pass's, mirrored back; the query map stays the own pass's", () => {
  const [b, h, w] = [2, 3, 4];
  // scores that depend on the column, not on the image: mirrored back they are the ramp reversed
  const ramp = tf.tidy(
    () =>
      tf
        .range(0, w)
        .reshape([1, 1, w, 1])
        .tile([2 * b, h, 1, 1]) as tf.Tensor4D,
  );
  const seen: number[] = [];
  const mirroredRun = withMirror((input) => {
    seen.push(input.shape[0]);
    return tf.tidy(() => ({
      scores: ramp.clone(),
      queries: tf
        .range(0, 2 * b, 1, "int32")
        .reshape([2 * b, 1, 1])
        .tile([1, h, w]) as tf.Tensor3D,
      queryLogits: tf.zeros([2 * b, h, w]) as tf.Tensor3D,
      queryCosine: tf.range(0, 2 * b) as tf.Tensor1D,
    }));
  });
  const before = tf.memory().numTensors;
  const out = mirroredRun(tf.zeros([b, h, w, 3]));
  assert.deepEqual(seen, [2 * b], "the image and its mirror run in one batch");
  assert.deepEqual(out.scores.shape, [b, h, w, 1]);
  assert.ok(
    [...out.scores.dataSync()].every((x) => x === (w - 1) / 2),
    "column x meets column w−1−x",
  );
  assert.deepEqual([...new Set(out.queries.dataSync())], [0, 1], "queries of the own pass (images 0 and 1)");
  assert.deepEqual([...out.queryCosine.dataSync()], [0, 1]);
  tf.dispose([out.scores, out.queries, out.queryLogits, out.queryCosine]);
  assert.equal(tf.memory().numTensors, before + 1, "only the input outlives the call");
  ramp.dispose();
});

test("--flip: a prediction is the mean of the image's and its mirror's, mirrored back", async () => {
  await withSegmenter(async (seg) => {
    const [width, height] = [96, 64]; // the test size, a multiple of 32: no resize, no padding
    const image = squareImage(width, height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width / 3; x++) image.data[3 * (y * width + x)] = 250;
    const mirror = { ...image, data: new Uint8Array(image.data.length) };
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        mirror.data.set(
          image.data.subarray(3 * (y * width + x), 3 * (y * width + x) + 3),
          3 * (y * width + width - 1 - x),
        );
    const options = { shortSide: 64 };
    const own = seg.predict(image, ["cat", "dog"], options);
    const mirrored = seg.predict(mirror, ["cat", "dog"], options);
    const flipped = seg.predict(image, ["cat", "dog"], { ...options, flip: true });
    const n = own.names.length;
    let largest = 0;
    let differs = 0;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let k = 0; k < n; k++) {
          const p = (y * width + x) * n + k;
          const expected = (own.scores[p] + mirrored.scores[(y * width + width - 1 - x) * n + k]) / 2;
          largest = Math.max(largest, Math.abs(flipped.scores[p] - expected));
          differs = Math.max(differs, Math.abs(flipped.scores[p] - own.scores[p]));
        }
    assert.ok(largest < 1e-5, `largest difference ${largest}`);
    assert.ok(differs > 1e-4, "the asymmetric image's mirror says something else");
    assert.deepEqual(flipped.queries, own.queries);
    await assert.rejects(
      seg.segment(image, ["cat"], { flip: "yes" as unknown as boolean }),
      /flip must be true or false, got "yes"/,
    );
  });
});

test("--refine: a prediction's scores are PAMR's refinement of the unrefined ones by the image's colours", async () => {
  await withSegmenter(async (seg) => {
    const [width, height] = [96, 64]; // the test size: no resize
    const image = squareImage(width, height);
    const options = { shortSide: 64 };
    const own = seg.predict(image, ["cat", "dog"], options);
    const refined = seg.predict(image, ["cat", "dog"], { ...options, refine: true });
    assert.deepEqual(refined.scores, refineScores(own.scores, own.names.length, image));
    assert.deepEqual(refined.queries, own.queries);
    await assert.rejects(
      seg.segment(image, ["cat"], { refine: 1 as unknown as boolean }),
      /refine must be true or false, got 1/,
    );
  });
});

test("a repeated vocabulary encodes no text; dispose leaves no tensor behind", async () => {
  const before = tf.memory().numTensors;
  const seg = await loadSegmenter({ untrained: micro });
  let encodings = 0;
  const textFeatures = seg.model.textFeatures.bind(seg.model);
  seg.model.textFeatures = (ids) => {
    encodings++;
    return textFeatures(ids);
  };
  const image = squareImage(64, 64);
  await seg.segment(image, ["cat", "dog"]);
  await seg.segment(image, ["cat", "dog"]);
  assert.equal(encodings, 1, "the second call reuses the cached text embeddings");
  await seg.segment(image, ["cat", "dog"], { templates: "groupvit" });
  assert.equal(encodings, 2, "other templates are other embeddings");
  seg.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor outlives dispose()");
  await assert.rejects(seg.segment(image, ["cat"]), /disposed/);
});

test("bad vocabularies and options are refused with one clear line", async () => {
  await withSegmenter(async (seg) => {
    const image = squareImage(32, 32);
    const cases: [string[], object, RegExp][] = [
      [[], {}, /the vocabulary is empty/],
      [["cat", "dog", "cat"], {}, /class name "cat" is given twice/],
      [["cat", "&nbsp;"], {}, /class name "&nbsp;" has no text the tokenizer can read/],
      [["cat", " "], {}, /class name " " is empty/],
      [Array.from({ length: 65536 }, (_, i) => `c${i}`), {}, /at most 65535 classes, got 65536/],
      [["cat"], { background: { classes: ["cat"] } }, /background word "cat" is given twice/],
      [["cat"], { background: { threshold: 2 } }, /background threshold must be in \[0, 1\], got 2/],
      [["cat"], { mode: "tiles" }, /mode must be "whole" or "slide"/],
      [["cat"], { masks: "max" }, /masks must be "mix" or "winner", got "max"/],
      [["cat"], { crop: 64, stride: 65 }, /stride 65 is larger than crop 64/],
      [["cat"], { shortSide: 0 }, /shortSide must be a positive integer/],
      [["cat"], { templates: ["a photo"] }, /"a photo" has no \{\} for the class name/],
      [["cat"], { templates: "fancy" }, /unknown preset "fancy"/],
      [["cat"], { background: { noObject: true } }, /has no no-object class \(no region head\)/],
    ];
    for (const [names, options, message] of cases)
      await assert.rejects(seg.segment(image, names, options), message, String(message));
    await assert.rejects(seg.segment("/nonexistent/x.png", ["cat"]), /\/nonexistent\/x\.png/);
    await assert.rejects(seg.segment(Uint8Array.from([1, 2, 3]), ["cat"]), /<buffer>/);
  });
});

test("loadSegmenter reads a run folder, a checkpoint folder and a .safetensors file with its config", async (t) => {
  const dir = await tempDir(t, "sseg-segmenter-");
  const model = new SSegModel(micro, { seed: 7 });
  const state = stateOf(model);
  await saveCheckpoint(join(dir, "run"), { model: state, optimizer: {}, state: { step: 12, config: micro } });
  await writeSafetensors(join(dir, "shipped", "micro.safetensors"), state);
  await writeFile(join(dir, "shipped", "micro.json"), JSON.stringify(micro));
  const image = squareImage(64, 48);
  const reference = await withModel(model, (seg) => seg.segment(image, ["cat", "dog"], { scores: true }));
  for (const source of [
    join(dir, "run"),
    join(dir, "run", "checkpoints", "step-0000012"),
    join(dir, "shipped", "micro.safetensors"),
  ]) {
    const seg = await loadSegmenter(source);
    assert.equal(seg.trained, true);
    const result = await seg.segment(image, ["cat", "dog"], { scores: true });
    assert.deepEqual(result.scores, reference.scores, source);
    seg.dispose();
  }
});

/** A segmenter around an in-memory model (the same code path as a loaded one). */
async function withModel<T>(model: SSegModel, run: (seg: Segmenter) => Promise<T>): Promise<T> {
  const { Segmenter } = await import("../../src/infer/segmenter.js");
  const seg = new Segmenter(model.eval(), await ClipTokenizer.load(), {
    description: "in memory",
    trained: true,
    engine: await initEngine(),
  });
  try {
    return await run(seg);
  } finally {
    seg.dispose();
  }
}

test("missing, damaged and mismatched models fail with one line naming the file", async (t) => {
  const dir = await tempDir(t, "sseg-badmodel-");
  await saveMicroRun(dir, 1);
  const checkpoint = join(dir, "run", "checkpoints", "step-0000001");

  await assertRejectsWith(
    loadSegmenter(join(dir, "nothing")),
    CheckpointError,
    "nothing: no such model file or folder",
  );
  await mkdir(join(dir, "empty"));
  await assertRejectsWith(
    loadSegmenter(join(dir, "empty")),
    CheckpointError,
    "neither a checkpoint nor a run",
  );
  await assertRejectsWith(
    loadSegmenter({ untrained: "huge" }),
    SegmenterError,
    'unknown configuration "huge"',
  );

  // a truncated weights file
  await mkdir(join(dir, "truncated"));
  const bytes = await readFile(join(checkpoint, "model.safetensors"));
  await writeFile(join(dir, "truncated", "model.safetensors"), bytes.subarray(0, bytes.length - 100));
  await writeFile(join(dir, "truncated", "config.json"), JSON.stringify(micro));
  await assertRejectsWith(
    loadSegmenter(join(dir, "truncated")),
    CheckpointError,
    join(dir, "truncated", "model.safetensors"),
  );

  // state.json without a config
  await mkdir(join(dir, "noconfig"));
  await copyFile(join(checkpoint, "model.safetensors"), join(dir, "noconfig", "model.safetensors"));
  await writeFile(join(dir, "noconfig", "state.json"), JSON.stringify({ step: 1 }));
  await assertRejectsWith(
    loadSegmenter(join(dir, "noconfig")),
    CheckpointError,
    "state.json: no model configuration in it",
  );

  // weights of another configuration: one line with counts, not hundreds
  await mkdir(join(dir, "mismatch"));
  await copyFile(join(checkpoint, "model.safetensors"), join(dir, "mismatch", "model.safetensors"));
  await writeFile(
    join(dir, "mismatch", "config.json"),
    JSON.stringify({ ...micro, decoder: { ...micro.decoder, hiddenDim: 48 } }),
  );
  await assert.rejects(loadSegmenter(join(dir, "mismatch")), (err: Error) => {
    assert.ok(err instanceof CheckpointError);
    assert.match(err.message, /model\.safetensors: does not fit the configuration "micro" in .*config\.json/);
    assert.match(err.message, /mis-shaped key/);
    assert.ok(!err.message.includes("\n"), "one line");
    assert.ok(err.message.length < 1500, `${err.message.length} characters`);
    return true;
  });

  // an optimizer file given as the model
  await assertRejectsWith(
    loadSegmenter(join(checkpoint, "optimizer.safetensors")),
    CheckpointError,
    "optimizer.safetensors: no configuration beside it",
  );
  // a file that is not a model at all
  await assertRejectsWith(
    loadSegmenter(join(checkpoint, "state.json")),
    CheckpointError,
    "state.json: not a model",
  );
});
