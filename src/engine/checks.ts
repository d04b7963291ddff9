import * as tf from "@tensorflow/tfjs";

/** Names of the tensors in `tensors` that hold a NaN or an infinity (empty when all are finite). */
export function nonFiniteNames(tensors: Record<string, tf.Tensor>): string[] {
  const bad: string[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (!allFinite(t)) bad.push(name);
  }
  return bad;
}

/** True when every element of `t` is finite. Reads the data synchronously (a check, not a graph op). */
export function allFinite(t: tf.Tensor): boolean {
  const values = t.dataSync();
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return false;
  }
  return true;
}

/** Throws naming every non-finite tensor; use after a loss or before applying gradients. */
export function assertFinite(tensors: Record<string, tf.Tensor>, what: string): void {
  const bad = nonFiniteNames(tensors);
  if (bad.length > 0) throw new Error(`Non-finite values (NaN or Inf) in ${what}: ${bad.join(", ")}`);
}

/**
 * Run `fn` `repeats` times after `warmup` runs and return the growth in live tensors and bytes.
 * A leak-free step returns zero growth; tests assert exactly that.
 */
export function tensorGrowth(fn: () => void, repeats = 3, warmup = 1): { tensors: number; bytes: number } {
  for (let i = 0; i < warmup; i++) fn();
  const before = tf.memory();
  for (let i = 0; i < repeats; i++) fn();
  const after = tf.memory();
  return { tensors: after.numTensors - before.numTensors, bytes: after.numBytes - before.numBytes };
}
