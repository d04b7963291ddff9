/**
 * The `segment_*` workloads: the segmenter's latency on one 448×448 photo (samples/dune.jpg, resized), `tiny-swin` and
 * `paper`, whole image and sliding windows, timed next to the same model and the same inference math composed from
 * the PyTorch reference modules in bench/segment_torch.py. Both sides get the model's weights and the class
 * embeddings (computed once here by the model's own text tower, which the segmenter caches too) through the
 * harness's inputs file; the settings below travel as its metadata (key "sseg_segment").
 */

import { VOC20_CLASSES } from "../src/data/datasets.js";
import { applyBackground, Segmenter } from "../src/infer/segmenter.js";
import { classEmbeddings } from "../src/infer/semantic.js";
import { readImage } from "../src/io/image.js";
import { resizeBilinear } from "../src/io/pixels.js";
import { CONFIGS } from "../src/model/presets.js";
import { resolveTemplates } from "../src/model/prompts.js";
import { SSegModel } from "../src/model/sseg.js";
import type { TensorData } from "../src/nn/module.js";
import { ClipTokenizer } from "../src/text/tokenizer.js";
import type { BenchInputs, Workload } from "./workloads.js";

export const SEGMENT_BENCH = {
  imageSize: 448,
  /** VOC's 20 class prompts (GroupViT's names): a realistic vocabulary size. */
  classes: VOC20_CLASSES,
  threshold: 0.5,
  /** Windows per forward pass, as the segmenter batches them. */
  windowsPerPass: 4,
  /**
   * Per run: the image's short side stays 448; whole = one pass on the whole image; slide = windows of the model's
   * training size every half of it (tiny: 36 windows of 128²; paper: the protocol's 448/224, one window here).
   */
  runs: {
    segment_tiny_whole: { config: "tiny-swin", mode: "whole", crop: 128, stride: 64 },
    segment_tiny_slide: { config: "tiny-swin", mode: "slide", crop: 128, stride: 64 },
    segment_paper_whole: { config: "paper", mode: "whole", crop: 448, stride: 224 },
    segment_paper_slide: { config: "paper", mode: "slide", crop: 448, stride: 224 },
  },
} as const;

type RunName = keyof typeof SEGMENT_BENCH.runs;
const TOKENIZER = await ClipTokenizer.load();
const PREFIX = "segment.";
const SAMPLE = new URL("../../samples/dune.jpg", import.meta.url).pathname;

/** The inputs of the selected segment workloads: the photo, and per configuration its weights and class embeddings. */
export async function addSegmentInputs(
  inputs: BenchInputs,
  seed: number,
  names: readonly string[],
): Promise<void> {
  const configs = new Set(
    names.filter((n): n is RunName => n in SEGMENT_BENCH.runs).map((n) => SEGMENT_BENCH.runs[n].config),
  );
  if (configs.size === 0) return;
  const size = SEGMENT_BENCH.imageSize;
  const photo = resizeBilinear(await readImage(SAMPLE), size, size);
  inputs.set(`${PREFIX}image`, { shape: [1, size, size, 3], data: Float32Array.from(photo.data) });
  for (const name of configs) {
    const model = new SSegModel(CONFIGS[name], { seed }).eval();
    for (const [key, value] of model.stateDict())
      inputs.set(`${PREFIX}${name}.model.${key}`, {
        shape: value.shape,
        data: value.dataSync<"float32">().slice(),
      });
    const classes = classEmbeddings(model, TOKENIZER, SEGMENT_BENCH.classes, resolveTemplates("simple"));
    inputs.set(`${PREFIX}${name}.classes`, {
      shape: classes.shape,
      data: classes.dataSync<"float32">().slice(),
    });
    classes.dispose();
    model.dispose();
  }
}

function segmentWorkload(name: RunName): Workload {
  const run = SEGMENT_BENCH.runs[name];
  const config = CONFIGS[run.config];
  return {
    name,
    description:
      `segment() of a ${SEGMENT_BENCH.imageSize}² photo, ${run.config}, ${run.mode}` +
      (run.mode === "slide" ? ` ${run.crop}/${run.stride}` : "") +
      `, ${SEGMENT_BENCH.classes.length} classes (text cached)`,
    heavy: true,
    nativeOnly: run.config === "paper",
    prepare(inputs) {
      const model = new SSegModel(config);
      const state = new Map<string, TensorData>();
      const prefix = `${PREFIX}${run.config}.model.`;
      for (const [key, value] of inputs)
        if (key.startsWith(prefix)) state.set(key.slice(prefix.length), value);
      model.loadStateDict(state);
      const image = inputs.get(`${PREFIX}image`);
      if (!image) throw new Error(`bench inputs have no tensor "${PREFIX}image"`);
      const rgb = {
        width: SEGMENT_BENCH.imageSize,
        height: SEGMENT_BENCH.imageSize,
        data: Uint8Array.from(image.data),
      };
      const options = {
        mode: run.mode,
        crop: run.crop,
        stride: run.stride,
        shortSide: SEGMENT_BENCH.imageSize,
      };
      const segmenter = new Segmenter(model.eval(), TOKENIZER, {
        description: name,
        trained: false,
      });
      // encodes and caches the class embeddings here, outside the harness's tidy (the timed runs reuse them)
      const tiny = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) };
      segmenter.predict(tiny, SEGMENT_BENCH.classes, { shortSide: 32 });
      return {
        run: () => {
          const prediction = segmenter.predict(rgb, SEGMENT_BENCH.classes, options);
          applyBackground(prediction, SEGMENT_BENCH.classes.length, { threshold: SEGMENT_BENCH.threshold });
          return { scores: prediction.scores };
        },
        dispose: () => segmenter.dispose(),
      };
    },
  };
}

export const SEGMENT_WORKLOADS: Workload[] = (Object.keys(SEGMENT_BENCH.runs) as RunName[]).map(
  segmentWorkload,
);
