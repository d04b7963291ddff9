/**
 * The optimiser and learning-rate schedule of S-Seg's training (spec §7, GroupViT's recipe): AdamW exactly
 * as torch.optim.AdamW, parameter groups with and without weight decay, a checkpointable state, and timm's
 * cosine schedule with linear warm-up.
 */
import * as tf from "@tensorflow/tfjs";
import { adamwUpdate, sumOfSquares } from "../engine/kernels/optimizer.js";

export interface ParamGroup {
  name: string;
  weightDecay: number;
  /** The group's learning rate as a fraction of the optimiser's (torch: a group's own "lr"); default 1. */
  lrScale?: number;
  params: [name: string, variable: tf.Variable][];
}

/**
 * Substrings that mark an embedding table, a position table or the temperature. They are looked for in a
 * parameter's own name and its module's name only (the last two dotted parts), so `token_embedding.weight`,
 * `query_embed.weight` and `absolute_pos_embed` match but `patch_embed.proj.weight` (a convolution kernel)
 * and `mask_embed.layers.0.weight` (an MLP) do not.
 */
const NO_DECAY_KEYWORDS = ["embed", "position", "relative_position_bias_table", "logit_scale"];

/**
 * Whether weight decay applies: not to 1-d or 0-d parameters (norm gains, biases, the logit scale), names
 * ending in ".bias", or embedding/position tables — the rule of timm's `param_groups_weight_decay` plus its
 * usual no-decay list. (GroupViT itself exempts only 1-d parameters and biases, so it decays its text
 * embeddings and its 0-d logit_scale; this project does not.)
 */
export function usesWeightDecay(name: string, shape: readonly number[]): boolean {
  if (shape.length <= 1 || name.endsWith(".bias")) return false;
  const ownAndModule = name.split(".").slice(-2).join(".");
  return !NO_DECAY_KEYWORDS.some((keyword) => ownAndModule.includes(keyword));
}

/**
 * Groups in the order torch users write them: "decay" with `weightDecay`, then "no_decay" with 0; parameters
 * whose name starts with a prefix in `lrScales` go to their own pair ("<prefix>decay", "<prefix>no_decay") at that
 * fraction of the learning rate (a pretrained backbone fine-tuned slower than the rest). A fraction of 0 freezes
 * them: they join no group, so no gradient is computed for them and the backward pass stops before them.
 */
export function weightDecayGroups(
  namedParameters: [string, tf.Variable][],
  weightDecay = 0.05,
  lrScales: Record<string, number> = {},
): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  const group = (prefix: string, decays: boolean): ParamGroup => {
    const name = `${prefix}${decays ? "decay" : "no_decay"}`;
    let found = groups.get(name);
    if (!found) {
      found = { name, weightDecay: decays ? weightDecay : 0, lrScale: lrScales[prefix] ?? 1, params: [] };
      groups.set(name, found);
    }
    return found;
  };
  group("", true);
  group("", false);
  for (const entry of namedParameters) {
    const prefix = Object.keys(lrScales).find((p) => entry[0].startsWith(p)) ?? "";
    if (lrScales[prefix] === 0) continue;
    group(prefix, usesWeightDecay(entry[0], entry[1].shape)).params.push(entry);
  }
  return [...groups.values()];
}

export interface AdamWOptions {
  /** The learning rate of the next update; set it before each step from a schedule. */
  learningRate: number;
  betas?: [number, number];
  eps?: number;
}

/** One parameter's optimiser state, as torch's `state[p]`: updates so far and the two moment estimates. */
export interface AdamWParamState {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/** Everything needed to resume exactly: per-parameter state by dotted name (absent: never updated). */
export interface AdamWState {
  params: Record<string, AdamWParamState>;
}

interface Slot {
  name: string;
  variable: tf.Variable;
  weightDecay: number;
  lrScale: number;
  step: number;
  /** The moments, plain arrays the update kernel works on in place (null until the first update). */
  expAvg: Float32Array | null;
  expAvgSq: Float32Array | null;
}

/**
 * torch.optim.AdamW (amsgrad off, maximize off) over named parameter groups. Each update, per parameter with
 * a gradient: step += 1; p ← p·(1 − lr·wd); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
 * p ← p − lr/(1 − β₁^step) · m / (√v / √(1 − β₂^step) + ε). The step counts per parameter, as torch's.
 * `step` is the training step's one update: non-finite guard, global-norm clipping and AdamW together. A
 * tf.Optimizer, so gradients arrive keyed by the variables' tf names (as tf.variableGrads returns them).
 */
export class AdamW extends tf.Optimizer {
  static get className(): string {
    return "AdamW";
  }

  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly slots: Slot[] = [];
  /** tf variable name → slot, for gradients keyed as tf.variableGrads returns them. */
  private readonly byVariable = new Map<string, Slot>();

  constructor(
    readonly groups: readonly ParamGroup[],
    options: AdamWOptions,
  ) {
    super();
    this.learningRate = options.learningRate;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    const names = new Set<string>();
    for (const group of groups) {
      for (const [name, variable] of group.params) {
        if (names.has(name) || this.byVariable.has(variable.name)) {
          throw new Error(`AdamW: parameter "${name}" appears in more than one place in the groups`);
        }
        names.add(name);
        const slot: Slot = {
          name,
          variable,
          weightDecay: group.weightDecay,
          lrScale: group.lrScale ?? 1,
          step: 0,
          expAvg: null,
          expAvgSq: null,
        };
        this.slots.push(slot);
        this.byVariable.set(variable.name, slot);
      }
    }
  }

  /**
   * The training step's update: if any gradient holds a NaN or an infinity, nothing changes and the result names
   * those parameters; otherwise the gradients are scaled so their global L2 norm is at most `clipGradNorm` (as
   * torch's clip_grad_norm_: by max / (norm + 1e-6)) and AdamW updates every parameter that has one.
   */
  step(gradients: tf.NamedTensorMap, options: { clipGradNorm?: number } = {}): StepResult {
    this.checkGradients(Object.keys(gradients));
    let total = 0;
    const nonFinite: string[] = [];
    const squaredNorms: Record<string, number> = {};
    for (const [variableName, gradient] of Object.entries(gradients)) {
      const name = this.byVariable.get(variableName)!.name;
      const sum = sumOfSquares(gradient);
      if (!Number.isFinite(sum)) nonFinite.push(name);
      squaredNorms[name] = sum;
      total += sum;
    }
    const gradNorm = Math.sqrt(total);
    if (nonFinite.length > 0) return { gradNorm, squaredNorms, skipped: true, nonFinite };
    const clip = options.clipGradNorm;
    const scale = clip !== undefined && gradNorm > clip ? clip / (gradNorm + 1e-6) : 1;
    this.update(Object.entries(gradients), scale);
    return { gradNorm, squaredNorms, skipped: false, nonFinite };
  }

  /** One AdamW update of every parameter that has a gradient, in place, leaving no intermediate tensors. */
  applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const gradients = Array.isArray(variableGradients)
      ? variableGradients.map(({ name, tensor }): [string, tf.Tensor] => [name, tensor])
      : Object.entries(variableGradients);
    this.checkGradients(gradients.map(([name]) => name));
    this.update(gradients, 1);
  }

  /** The parameters it trains, in group order: what a training step computes gradients for. */
  parameters(): tf.Variable[] {
    return this.slots.map((slot) => slot.variable);
  }

  /** Refuses, before any update, gradients of variables in no group. */
  private checkGradients(variableNames: string[]): void {
    const stray = variableNames.filter((name) => !this.byVariable.has(name));
    if (stray.length > 0) throw new Error(`AdamW: gradients for variables in no group: ${stray.join(", ")}`);
  }

  /** AdamW on gradients multiplied by `gradientScale` (the clipping factor; 1: none), in place. */
  private update(gradients: [string, tf.Tensor | null][], gradientScale: number): void {
    const { learningRate: lr, beta1, beta2, eps } = this;
    for (const [variableName, gradient] of gradients) {
      if (gradient == null) continue;
      const slot = this.byVariable.get(variableName)!;
      slot.expAvg ??= new Float32Array(slot.variable.size);
      slot.expAvgSq ??= new Float32Array(slot.variable.size);
      slot.step += 1;
      const groupLr = lr * slot.lrScale;
      adamwUpdate(slot.variable, gradient, slot.expAvg, slot.expAvgSq, {
        gradientScale,
        beta1,
        beta2,
        decayFactor: 1 - groupLr * slot.weightDecay,
        biasCorrection2Sqrt: Math.sqrt(1 - beta2 ** slot.step),
        eps,
        stepSize: groupLr / (1 - beta1 ** slot.step),
      });
    }
    this.incrementIterations();
  }

  /** A copy of the state as plain arrays, for a checkpoint. */
  exportState(): AdamWState {
    const params: Record<string, AdamWParamState> = {};
    for (const { name, step, expAvg, expAvgSq } of this.slots) {
      if (!expAvg || !expAvgSq) continue;
      params[name] = {
        step,
        // copies: the optimiser keeps updating its own
        expAvg: expAvg.slice(),
        expAvgSq: expAvgSq.slice(),
      };
    }
    return { params };
  }

  /** Restore an exported state: unknown names and wrong sizes are refused, absent parameters start afresh. */
  importState(state: AdamWState): void {
    const bySlotName = new Map(this.slots.map((slot) => [slot.name, slot]));
    const problems: string[] = [];
    for (const [name, entry] of Object.entries(state.params)) {
      const slot = bySlotName.get(name);
      if (!slot) problems.push(`unexpected parameter "${name}"`);
      else if (entry.expAvg.length !== slot.variable.size || entry.expAvgSq.length !== slot.variable.size)
        problems.push(
          `parameter "${name}": state has ${entry.expAvg.length} values, the parameter ${slot.variable.size}`,
        );
      else if (!Number.isInteger(entry.step) || entry.step < 1)
        problems.push(`parameter "${name}": step ${entry.step} is not a positive integer`);
    }
    if (problems.length > 0) throw new Error(`AdamW: cannot import state:\n  ${problems.join("\n  ")}`);
    for (const slot of this.slots) {
      const entry = state.params[slot.name];
      slot.step = entry?.step ?? 0;
      // copies, so the caller's arrays never alias the optimiser's state
      slot.expAvg = entry ? entry.expAvg.slice() : null;
      slot.expAvgSq = entry ? entry.expAvgSq.slice() : null;
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, eps: this.eps };
  }

  override dispose(): void {
    for (const slot of this.slots) {
      slot.expAvg = null;
      slot.expAvgSq = null;
    }
    super.dispose();
  }
}

export interface StepResult {
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** Each parameter's squared gradient norm before clipping, by name (for per-module diagnostics). */
  squaredNorms: Record<string, number>;
  /** True when the update was skipped because a gradient held a NaN or an infinity. */
  skipped: boolean;
  /** The parameters whose gradients did. */
  nonFinite: string[];
}

export interface CosineSchedule {
  /** Steps of linear warm-up from `warmupStartLr` to `baseLr`. */
  warmupSteps: number;
  /** Length of the cosine, counted from step 0 (warm-up included); from there on the rate stays at minLr. */
  totalSteps: number;
  baseLr: number;
  minLr: number;
  /** The rate at step 0 (default 0; GroupViT: 4e-6 before its batch scaling). */
  warmupStartLr?: number;
}

/**
 * The learning rate at `step` (0-based), as timm's CosineLRScheduler with GroupViT's settings
 * (t_initial = totalSteps, warmup_t = warmupSteps, warmup_lr_init = warmupStartLr, warmup_prefix off,
 * one cycle, steps not epochs): linear warm-up from warmupStartLr (0 unless given), then
 * minLr + ½(baseLr − minLr)(1 + cos(π·step/totalSteps)), then minLr from totalSteps on. With warmup_prefix
 * off the cosine is not shifted by the warm-up: it is already at step/totalSteps when warm-up ends (a small
 * drop below baseLr), as in GroupViT.
 */
export function cosineWithWarmup(step: number, schedule: CosineSchedule): number {
  const { warmupSteps, totalSteps, baseLr, minLr } = schedule;
  const warmupStartLr = schedule.warmupStartLr ?? 0;
  if (!(totalSteps > 0) || !(warmupSteps >= 0) || !(step >= 0)) {
    throw new RangeError(
      `cosineWithWarmup: need step ≥ 0, warmupSteps ≥ 0, totalSteps > 0; got step ${step}, ` +
        `warmupSteps ${warmupSteps}, totalSteps ${totalSteps}`,
    );
  }
  if (step < warmupSteps) return warmupStartLr + (step * (baseLr - warmupStartLr)) / warmupSteps;
  if (step >= totalSteps) return minLr;
  return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos((Math.PI * step) / totalSteps));
}

export interface PolySchedule {
  /** Steps of mmcv's linear warm-up, starting at `warmupRatio` of the scheduled rate. */
  warmupSteps: number;
  warmupRatio: number;
  totalSteps: number;
  baseLr: number;
  minLr: number;
  power: number;
}

/**
 * mmseg's poly schedule with mmcv's linear warm-up (S-Seg+'s recipe): (baseLr − minLr)(1 − step/total)^power + minLr,
 * multiplied during the warm-up by 1 − (1 − step/warmupSteps)(1 − warmupRatio).
 */
export function polyWithWarmup(step: number, schedule: PolySchedule): number {
  const { warmupSteps, warmupRatio, totalSteps, baseLr, minLr, power } = schedule;
  if (!(totalSteps > 0) || !(warmupSteps >= 0) || !(step >= 0))
    throw new RangeError(
      `polyWithWarmup: need step ≥ 0, warmupSteps ≥ 0, totalSteps > 0; got step ${step}, warmupSteps ${warmupSteps}, totalSteps ${totalSteps}`,
    );
  const progress = Math.min(step, totalSteps) / totalSteps;
  const regular = (baseLr - minLr) * (1 - progress) ** power + minLr;
  if (step >= warmupSteps) return regular;
  return regular * (1 - (1 - step / warmupSteps) * (1 - warmupRatio));
}
