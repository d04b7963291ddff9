/**
 * The benchmark workloads, defined exactly as in bench/torch_bench.py: same names, same inputs (generated here
 * from a seed and handed to PyTorch through a safetensors file), same outputs read back for the agreement check.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../src/engine/rng.js";
import { VisionTransformer, vit_small_patch8 } from "../src/model/vit.js";
import { Attention } from "../src/nn/attention.js";
import { Conv2d } from "../src/nn/conv2d.js";
import { LayerNorm } from "../src/nn/layer-norm.js";
import { Mlp } from "../src/nn/mlp.js";
import { Module, type TensorData } from "../src/nn/module.js";
import { addSegmentInputs, SEGMENT_WORKLOADS } from "./segment.js";
import { addSSegStepInputs, SSEG_STEP_WORKLOADS } from "./sseg-step.js";

export const MATMUL_SIZE = 1024;
/** ViT-S/8 at 224×224: 28×28 patches + the class token. */
export const VIT = { dim: 384, heads: 6, mlpHidden: 1536, tokens: 785, eps: 1e-6 };
export const CONV = { batch: 8, size: 56, channels: 64, kernel: 3 };

/** A pre-norm transformer block with timm's parameter names (norm1, attn, norm2, mlp). */
export class ViTBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(rng: Rng) {
    super();
    this.norm1 = this.module("norm1", new LayerNorm(VIT.dim, VIT.eps));
    this.attn = this.module("attn", new Attention(VIT.dim, VIT.heads, { rng }));
    this.norm2 = this.module("norm2", new LayerNorm(VIT.dim, VIT.eps));
    this.mlp = this.module("mlp", new Mlp(VIT.dim, VIT.mlpHidden, VIT.dim, { rng, activation: "gelu" }));
  }

  /** x (B, N, C) → x + attn(norm1(x)), then + mlp(norm2(·)) */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const afterAttention = x.add(this.attn.forward(this.norm1.forward(x) as tf.Tensor3D));
      return afterAttention.add(this.mlp.forward(this.norm2.forward(afterAttention))) as tf.Tensor3D;
    });
  }
}

/** Every input tensor of every workload, by key ("vit.block.attn.qkv.weight", "conv.layer.weight", "conv.x", …). */
export type BenchInputs = Map<string, TensorData>;

/** Values read back from one run, by output name ("y", "loss", "grad.<parameter>"). */
export type Outputs = Record<string, Float32Array>;

export interface PreparedWorkload {
  /** One timed run; the harness wraps it in tf.tidy. Reading the values back forces the work to happen. */
  run(): Outputs;
  dispose(): void;
  /**
   * What to compare with PyTorch instead of the last run's outputs, for runs that cannot agree themselves (a
   * training step with dropout): computed once while preparing.
   */
  check?: Outputs;
  /** Figures the workload reports about itself, next to its timing (a model's parameter count). */
  info?: Record<string, number>;
}

export interface Workload {
  name: string;
  description: string;
  /** Minutes per run on the stock tfjs-cpu kernels: timed once on slow engines, and left out by --quick. */
  heavy: boolean;
  /** So slow on stock tfjs (tens of minutes) that it is not run there at all. */
  nativeOnly?: boolean;
  /** `false`: bench/torch_bench.py has no counterpart (timed on tfjs only). */
  torch?: boolean;
  prepare(inputs: BenchInputs): PreparedWorkload;
}

/**
 * The inputs of all workloads from one seed: N(0, 1) activations and matrices, module weights from the
 * modules' own (torch-default) initialisers, and the S-Seg step's model, batch and captions' token ids.
 */
export async function makeInputs(seed: number, selected: readonly string[]): Promise<BenchInputs> {
  const rng = new Rng(seed);
  const inputs: BenchInputs = new Map();
  const normal = (shape: number[]): TensorData => ({
    shape,
    data: init.normal(
      rng,
      shape.reduce((a, b) => a * b, 1),
      1,
    ),
  });
  inputs.set("matmul.a", normal([MATMUL_SIZE, MATMUL_SIZE]));
  inputs.set("matmul.b", normal([MATMUL_SIZE, MATMUL_SIZE]));
  addState(inputs, "vit.block.", new ViTBlock(rng.fork()));
  for (const batch of [1, 4]) inputs.set(`vit.x.b${batch}`, normal([batch, VIT.tokens, VIT.dim]));
  addState(inputs, "conv.layer.", makeConv(rng.fork()));
  inputs.set("conv.x", normal([CONV.batch, CONV.size, CONV.size, CONV.channels]));
  addState(inputs, "vit_s8.model.", new VisionTransformer(vit_small_patch8, { rng: rng.fork() }));
  for (const size of [224, 448]) inputs.set(`vit_s8.x${size}`, normal([1, size, size, 3]));
  await addSSegStepInputs(inputs, seed, rng.fork(), selected);
  await addSegmentInputs(inputs, seed, selected); // only the selected ones: the paper model is 89 M values
  return inputs;
}

function addState(inputs: BenchInputs, prefix: string, module: Module): void {
  for (const [name, value] of module.stateDict()) {
    inputs.set(prefix + name, { shape: value.shape, data: value.dataSync<"float32">().slice() });
  }
  module.dispose();
}

function makeConv(rng: Rng): Conv2d {
  return new Conv2d(CONV.channels, CONV.channels, CONV.kernel, { rng, padding: 1, bias: false });
}

function tensorOf(inputs: BenchInputs, key: string): tf.Tensor {
  const entry = inputs.get(key);
  if (!entry) throw new Error(`bench inputs have no tensor "${key}"`);
  return tf.tensor(entry.data, [...entry.shape], "float32");
}

/** A trainable copy of an input, so tf.variableGrads can differentiate with respect to it. */
function variableOf(inputs: BenchInputs, key: string): tf.Variable {
  const initial = tensorOf(inputs, key);
  const variable = tf.variable(initial, true);
  initial.dispose();
  return variable;
}

function loadModule<M extends Module>(module: M, inputs: BenchInputs, prefix: string): M {
  const state = new Map<string, TensorData>();
  for (const [key, value] of inputs) if (key.startsWith(prefix)) state.set(key.slice(prefix.length), value);
  module.loadStateDict(state);
  return module;
}

const meanSquare = (y: tf.Tensor): tf.Scalar => y.square().mean() as tf.Scalar;

/** loss = mean(y²) and its gradients w.r.t. `variables`, all read back, keyed "loss" and "grad.<name>". */
function lossAndGrads(forward: () => tf.Tensor, variables: [string, tf.Variable][]): Outputs {
  const { value, grads } = tf.variableGrads(
    () => meanSquare(forward()),
    variables.map(([, v]) => v),
  );
  const outputs: Outputs = { loss: value.dataSync<"float32">() };
  for (const [name, v] of variables) outputs[`grad.${name}`] = grads[v.name].dataSync<"float32">();
  return outputs;
}

const matmul: Workload = {
  name: `matmul_${MATMUL_SIZE}`,
  description: `${MATMUL_SIZE}×${MATMUL_SIZE} · ${MATMUL_SIZE}×${MATMUL_SIZE} matrix product`,
  heavy: false,
  prepare(inputs) {
    const a = tensorOf(inputs, "matmul.a");
    const b = tensorOf(inputs, "matmul.b");
    return {
      run: () => ({ y: tf.matMul(a, b).dataSync<"float32">() }),
      dispose: () => tf.dispose([a, b]),
    };
  },
};

function vitBlock(batch: number, backward: boolean): Workload {
  const pass = backward ? "forward+backward" : "forward";
  return {
    name: `vit_${backward ? "fwdbwd" : "fwd"}_b${batch}`,
    description:
      `ViT-S/8 block ${pass}, batch ${batch} × ${VIT.tokens} tokens` +
      (backward ? ", loss mean(y²), grads of all block weights" : ""),
    heavy: batch > 1,
    prepare(inputs) {
      const block = loadModule(new ViTBlock(new Rng(0)), inputs, "vit.block.");
      const x = tensorOf(inputs, `vit.x.b${batch}`) as tf.Tensor3D;
      const parameters = block.namedParameters();
      return {
        run: () =>
          backward
            ? lossAndGrads(() => block.forward(x), parameters)
            : { y: block.forward(x).dataSync<"float32">() },
        dispose: () => {
          block.dispose();
          x.dispose();
        },
      };
    },
  };
}

function conv3x3(backward: boolean): Workload {
  const { batch, size, channels } = CONV;
  return {
    name: `conv_${backward ? "fwdbwd" : "fwd"}_b${batch}`,
    description:
      `3×3 conv ${channels}→${channels}, ${size}×${size}, batch ${batch}, padding 1, no bias, ` +
      (backward ? "forward+backward, loss mean(y²), grads of input and weight" : "forward"),
    heavy: backward, // tfjs-cpu's Conv2DBackpropFilter alone takes ~3.5 minutes here
    prepare(inputs) {
      const conv = loadModule(makeConv(new Rng(0)), inputs, "conv.layer.");
      const x = variableOf(inputs, "conv.x") as tf.Variable<tf.Rank.R4>;
      return {
        run: () =>
          backward
            ? lossAndGrads(
                () => conv.forward(x),
                [
                  ["x", x],
                  ["weight", conv.weight],
                ],
              )
            : { y: conv.forward(x).dataSync<"float32">() },
        dispose: () => {
          conv.dispose();
          x.dispose();
        },
      };
    },
  };
}

/** The whole DINO ViT-S/8 (12 blocks), forward at batch 1: the pseudo-mask generator's cost per image. */
function vitModel(size: number): Workload {
  const tokens = (size / 8) ** 2 + 1;
  return {
    name: `vit_s8_${size}`,
    description: `ViT-S/8 (12 blocks) forward, 1 image ${size}×${size} (${tokens} tokens), tokens after the final norm`,
    heavy: true,
    nativeOnly: true,
    prepare(inputs) {
      const vit = loadModule(new VisionTransformer(vit_small_patch8), inputs, "vit_s8.model.").eval();
      const x = tensorOf(inputs, `vit_s8.x${size}`) as tf.Tensor4D;
      return {
        run: () => ({ tokens: vit.forward(x).tokens.dataSync<"float32">() }),
        dispose: () => {
          vit.dispose();
          x.dispose();
        },
      };
    },
  };
}

/** In table order. */
export const WORKLOADS: Workload[] = [
  matmul,
  vitBlock(1, false),
  vitBlock(1, true),
  vitBlock(4, false),
  vitBlock(4, true),
  conv3x3(false),
  conv3x3(true),
  vitModel(224),
  vitModel(448),
  ...SSEG_STEP_WORKLOADS,
  ...SEGMENT_WORKLOADS,
];
