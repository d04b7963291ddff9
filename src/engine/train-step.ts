import * as tf from "@tensorflow/tfjs";
import { nonFiniteNames } from "./checks.js";

export interface TrainStepOptions {
  /** Clip the global gradient L2 norm to this value (no clipping when absent). */
  clipGradNorm?: number;
}

export interface TrainStepResult {
  loss: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** True when the update was skipped because the loss or a gradient was NaN/Inf. */
  skipped: boolean;
  /** Names of the non-finite gradients ("loss" when the loss itself was). */
  nonFinite: string[];
}

/**
 * One optimisation step inside a single tidy: loss and gradients, a NaN/Inf guard that skips the update and
 * names the offending parameters, optional global-norm clipping, then the optimizer update.
 * Nothing but the optimizer's own state outlives the call, so repeated steps leak no tensors.
 */
export function trainStep(
  optimizer: tf.Optimizer,
  params: [string, tf.Variable][],
  lossFn: () => tf.Scalar,
  options: TrainStepOptions = {},
): TrainStepResult {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      lossFn,
      params.map(([, v]) => v),
    );
    const loss = value.dataSync()[0];
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, v] of params) if (grads[v.name]) byName[name] = grads[v.name];
    const nonFinite = Number.isFinite(loss) ? nonFiniteNames(byName) : ["loss"];
    const gradList = Object.values(grads);
    const gradNorm = Math.sqrt(gradList.reduce((s, g) => s + g.square().sum().dataSync()[0], 0));
    if (nonFinite.length > 0) return { loss, gradNorm, skipped: true, nonFinite };
    const clip = options.clipGradNorm;
    const scale = clip !== undefined && gradNorm > clip ? clip / (gradNorm + 1e-6) : 1;
    const scaled: tf.NamedTensorMap = {};
    for (const [name, g] of Object.entries(grads)) scaled[name] = scale === 1 ? g : g.mul(scale);
    optimizer.applyGradients(scaled);
    return { loss, gradNorm, skipped: false, nonFinite };
  });
}
