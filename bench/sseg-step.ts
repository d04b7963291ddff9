/**
 * The `sseg_tiny_step` and `sseg_paper_step` workloads: one S-Seg training step of `tiny-swin` (batch 16) or the
 * `paper` model (batch 2) on a fixed synthetic batch, taken as
 * src/train/trainer.ts takes it (variableGrads of sSegLoss, global-norm clipping, AdamW over the weight-decay
 * groups), timed next to the same model and step composed from the PyTorch reference modules of tools/oracles in
 * bench/sseg_step_torch.py. The model's weights, the batch and the settings below reach PyTorch through the
 * harness's inputs file (settings as its metadata), so both sides train the same model on the same batch.
 */
import * as tf from "@tensorflow/tfjs";
import { catalogNouns, debianCatalog } from "../src/data/composites/catalog.js";
import { NounLexicon } from "../src/data/nouns.js";
import { variableGrads } from "../src/engine/gradients.js";
import { init, type Rng } from "../src/engine/rng.js";
import { paper, tiny, tinySwin } from "../src/model/presets.js";
import { SSegModel } from "../src/model/sseg.js";
import { Dropout, DropPath } from "../src/nn/dropout.js";
import type { TensorData } from "../src/nn/module.js";
import { ClipTokenizer } from "../src/text/tokenizer.js";
import { batchNouns } from "../src/train/batches.js";
import { DEFAULT_MASK_LOSS_WEIGHTS, SetCriterion } from "../src/train/criterion.js";
import { DEFAULT_MATCH_COSTS, HungarianMatcher } from "../src/train/matcher.js";
import { DEFAULT_OBJECTIVE_WEIGHTS, sSegLoss } from "../src/train/objective.js";
import { AdamW } from "../src/train/optimizer.js";
import { sSegParamGroups } from "../src/train/trainer.js";
import type { BenchInputs, Outputs, Workload } from "./workloads.js";

/**
 * The model, the synthetic batch and the step's settings, per workload. Optimiser numbers are the trainer's
 * defaults for a configuration without its own (DEFAULT_LR 1e-3, weight decay 0.05, clip 1.0; AdamW's betas and
 * eps). PyTorch reads these objects from the inputs file's metadata (key "sseg_step": workload name → settings).
 */
const STEP_SETTINGS = {
  /** Target masks per image: a random partition of the mask grid into this many cells, like k-means pseudo-masks. */
  masksPerImage: 6,
  /** Targets at imageSize / maskStride (the trainer's maskStride 4: the resolution of the predicted masks). */
  maskStride: 4,
  lr: 1e-3,
  weightDecay: 0.05,
  clipGradNorm: 1.0,
  betas: [0.9, 0.999],
  eps: 1e-8,
  matchCosts: DEFAULT_MATCH_COSTS,
  maskLossWeights: DEFAULT_MASK_LOSS_WEIGHTS,
  objectiveWeights: DEFAULT_OBJECTIVE_WEIGHTS,
};

/**
 * `tiny-swin` (the paper's architecture at 2-core size) at batch 16, the paper's model at batch 2 (448²: ~12× its
 * activations per image), and the default `tiny` naming recipe as it trains (batch 32, caption nouns, lr 3e-4; no
 * PyTorch side: the oracles have no MobileNetV2 or region head).
 */
export const SSEG_STEPS = {
  sseg_tiny_step: { ...STEP_SETTINGS, config: tinySwin, batch: 16, torch: true },
  sseg_paper_step: { ...STEP_SETTINGS, config: paper, batch: 2, torch: true },
  sseg_naming_step: { ...STEP_SETTINGS, config: tiny, batch: 32, lr: 3e-4, torch: false },
};

type StepName = keyof typeof SSEG_STEPS;

/** 16 short captions; their CLIP token rows are the batch's text. */
export const SSEG_CAPTIONS = [
  "a photo of a cat.",
  "a dog running on the beach",
  "two people riding bicycles",
  "a red car parked on the street",
  "a bowl of fruit on a table",
  "a bird sitting on a branch",
  "a plate of pasta with tomato sauce",
  "a boat on a calm lake",
  "a child playing with a ball",
  "a city skyline at night",
  "a horse in a green field",
  "a cup of coffee next to a laptop",
  "a train crossing a bridge",
  "snow covered mountains under a clear sky",
  "a vase of flowers by the window",
  "an airplane in a blue sky",
];

/**
 * A selected step workload's inputs under "<name>.": the model's initial state dict (SSegModel with the harness
 * seed), images [B, S, S, 3] ~ N(0, 1), token ids [B, 77] (as float32, exact below 2²⁴) and targets [B, K, m, m].
 */
export async function addSSegStepInputs(
  inputs: BenchInputs,
  seed: number,
  rng: Rng,
  selected: readonly string[],
): Promise<void> {
  for (const name of Object.keys(SSEG_STEPS) as StepName[]) {
    const stepRng = rng.fork(); // forked for every workload, so the tiny step's inputs do not depend on the selection
    if (selected.includes(name)) await addStepInputs(inputs, name, seed, stepRng);
  }
}

/** Captions of the composites' kind for the naming step: two catalog nouns each, so a batch names ~50 nouns. */
function nounCaptions(rng: Rng, count: number): string[] {
  const nouns = [...catalogNouns(debianCatalog())].sort();
  const pick = () => nouns[Math.floor(rng.uniform() * nouns.length)];
  return Array.from({ length: count }, () => `a photo of a ${pick()} next to a ${pick()}.`);
}

async function addStepInputs(inputs: BenchInputs, name: StepName, seed: number, rng: Rng): Promise<void> {
  const { config, batch, masksPerImage, maskStride } = SSEG_STEPS[name];
  const prefix = `${name}.`;
  const captions = config.regions ? nounCaptions(rng, batch) : SSEG_CAPTIONS.slice(0, batch);
  if (captions.length < batch) throw new Error("SSEG_CAPTIONS must hold a caption per image");
  const model = new SSegModel(config, { seed });
  for (const [key, value] of model.stateDict())
    inputs.set(`${prefix}model.${key}`, { shape: value.shape, data: value.dataSync<"float32">().slice() });
  model.dispose();
  const size = config.imageSize;
  inputs.set(`${prefix}images`, {
    shape: [batch, size, size, 3],
    data: init.normal(rng, batch * size * size * 3, 1),
  });
  const contextLength = config.text.contextLength;
  const tokenizer = await ClipTokenizer.load();
  const tokens = tokenizer.tokenize(captions, contextLength);
  inputs.set(`${prefix}tokens`, { shape: [batch, contextLength], data: Float32Array.from(tokens) });
  if (config.regions) {
    const nouns = batchNouns(
      captions,
      new NounLexicon(catalogNouns(debianCatalog())),
      tokenizer,
      contextLength,
    );
    const count = nouns.words.length;
    inputs.set(`${prefix}nounTokens`, {
      shape: [count, contextLength],
      data: Float32Array.from(nouns.tokens),
    });
    inputs.set(`${prefix}nounTargets`, { shape: [batch, count], data: nouns.targets });
  }
  const maskSize = size / maskStride;
  const targets = new Float32Array(batch * masksPerImage * maskSize * maskSize);
  for (let b = 0; b < batch; b++)
    targets.set(partitionMasks(rng, masksPerImage, maskSize), b * masksPerImage * maskSize * maskSize);
  inputs.set(`${prefix}targets`, { shape: [batch, masksPerImage, maskSize, maskSize], data: targets });
}

/** `count` 0/1 masks [count, size, size] splitting the grid into the Voronoi cells of random centres. */
function partitionMasks(rng: Rng, count: number, size: number): Float32Array {
  const centres = Array.from({ length: count }, () => [rng.uniform() * size, rng.uniform() * size]);
  const masks = new Float32Array(count * size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let nearest = 0;
      let best = Number.POSITIVE_INFINITY;
      centres.forEach(([cy, cx], k) => {
        const d = (y + 0.5 - cy) ** 2 + (x + 0.5 - cx) ** 2;
        if (d < best) [best, nearest] = [d, k];
      });
      masks[(nearest * size + y) * size + x] = 1;
    }
  return masks;
}

function input(inputs: BenchInputs, key: string): TensorData {
  const entry = inputs.get(key);
  if (!entry) throw new Error(`bench inputs have no tensor "${key}"`);
  return entry;
}

function nounTensors(inputs: BenchInputs, prefix: string): { tokens: tf.Tensor2D; targets: tf.Tensor2D } {
  const tokens = input(inputs, `${prefix}nounTokens`);
  const targets = input(inputs, `${prefix}nounTargets`);
  return {
    tokens: tf.tensor2d(Int32Array.from(tokens.data), tokens.shape as [number, number], "int32"),
    targets: tf.tensor2d(targets.data, targets.shape as [number, number]),
  };
}

function stepWorkload(name: StepName): Workload {
  const settings = SSEG_STEPS[name];
  const { config, batch, masksPerImage, maskStride } = settings;
  const prefix = `${name}.`;
  return {
    name,
    description:
      `S-Seg ${config.name}, one training step (forward, Hungarian-matched mask losses of every decoder layer + ` +
      `contrastive loss, backward, clip 1.0, AdamW), batch ${batch} at ` +
      `${config.imageSize}², ${masksPerImage} target masks per image`,
    heavy: true,
    torch: settings.torch,
    nativeOnly: true, // minutes of Conv2DBackpropFilter per step on the stock kernels (see conv_fwdbwd_b8)
    prepare(inputs) {
      const model = new SSegModel(config);
      const state = new Map<string, TensorData>();
      for (const [key, value] of inputs)
        if (key.startsWith(`${prefix}model.`)) state.set(key.slice(`${prefix}model.`.length), value);
      model.loadStateDict(state);
      model.train();
      const groups = sSegParamGroups(model, settings.weightDecay);
      const optimizer = new AdamW(groups, {
        learningRate: settings.lr,
        betas: settings.betas as [number, number],
        eps: settings.eps,
      });
      const criterion = new SetCriterion(new HungarianMatcher(settings.matchCosts), settings.maskLossWeights);
      const dropouts = model.modules().filter((m) => m instanceof Dropout || m instanceof DropPath);
      const images = input(inputs, `${prefix}images`);
      const tokens = input(inputs, `${prefix}tokens`);
      const targets = input(inputs, `${prefix}targets`);
      const maskSize = config.imageSize / maskStride;
      const maskValues = maskSize * maskSize * masksPerImage;
      const tensors = {
        images: tf.tensor4d(images.data, images.shape as [number, number, number, number]),
        tokens: tf.tensor2d(Int32Array.from(tokens.data), tokens.shape as [number, number], "int32"),
        targets: Array.from({ length: batch }, (_, b) =>
          tf.tensor3d(targets.data.subarray(b * maskValues, (b + 1) * maskValues), [
            masksPerImage,
            maskSize,
            maskSize,
          ]),
        ),
        nouns: config.regions ? nounTensors(inputs, prefix) : undefined,
      };

      /** The trainer's phases 2 and 3 for one micro-batch; `record` reads the losses and gradients back. */
      const step = (record: boolean): Outputs => {
        const parts: Record<string, number> = {};
        const { value, grads } = variableGrads(() => {
          const loss = sSegLoss(model, criterion, tensors, settings.objectiveWeights);
          for (const [name, value] of Object.entries(loss.parts)) parts[name] = value.dataSync()[0];
          return loss.total;
        }, optimizer.parameters()); // not the model's: a frozen backbone gets no gradient, as in training
        const outputs: Outputs = {};
        if (record) {
          for (const [name, value] of Object.entries(parts)) outputs[`loss.${name}`] = Float32Array.of(value);
          for (const [name, v] of model.namedParameters())
            if (grads[v.name]) outputs[`grad.${name}`] = grads[v.name].dataSync<"float32">().slice();
        }
        // the trainer's update: non-finite guard, global-norm clipping and AdamW in one call
        const update = optimizer.step(grads, { clipGradNorm: settings.clipGradNorm });
        if (update.skipped || !Object.values(parts).every(Number.isFinite))
          throw new Error(`${name}: non-finite loss or gradient (${JSON.stringify(parts)})`);
        if (record) outputs.gradNorm = Float32Array.of(update.gradNorm);
        tf.dispose([value, ...Object.values(grads)]);
        return outputs;
      };

      // A first, untimed step with dropout off: its losses and gradients (from the shared initial weights) are what
      // the harness compares with PyTorch, since the timed steps' dropout draws differ between the two. It also
      // creates the optimiser's moments, so the timed runs allocate no lasting tensors.
      let check: Outputs = {};
      for (const d of dropouts) d.training = false;
      tf.tidy(() => {
        check = step(true); // assigned, not returned: tidy would walk every array element looking for tensors
      });
      for (const d of dropouts) d.training = true;
      const parameters = model.parameterCount();
      console.log(
        `[${name}] tfjs model: ${parameters.toLocaleString("en")} parameters ` +
          `(${groups[0].params.length} tensors with weight decay, ${groups[1].params.length} without)`,
      );
      return {
        run: () => {
          step(false);
          return {};
        },
        check,
        info: {
          parameters,
          decayTensors: groups[0].params.length,
          noDecayTensors: groups[1].params.length,
        },
        dispose: () => {
          optimizer.dispose();
          model.dispose();
          tf.dispose([tensors.images, tensors.tokens, ...tensors.targets]);
          if (tensors.nouns) tf.dispose([tensors.nouns.tokens, tensors.nouns.targets]);
        },
      };
    },
  };
}

export const SSEG_STEP_WORKLOADS: Workload[] = (Object.keys(SSEG_STEPS) as StepName[]).map(stepWorkload);
