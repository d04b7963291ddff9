import { join } from "node:path";
import { micro } from "../../src/model/presets.js";
import { SSegModel } from "../../src/model/sseg.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";

/** A model's parameters and buffers as checkpoint tensors. */
export function stateOf(model: SSegModel): Record<string, { shape: number[]; data: Float32Array }> {
  return Object.fromEntries(
    [...model.stateDict()].map(([name, v]) => [name, { shape: v.shape, data: v.dataSync() as Float32Array }]),
  );
}

/** A run folder `dir/run` with one checkpoint of a fresh micro model at `step`; returns its weights. */
export async function saveMicroRun(dir: string, step: number, seed = 0) {
  const model = new SSegModel(micro, { seed });
  const state = stateOf(model);
  model.dispose();
  await saveCheckpoint(join(dir, "run"), { model: state, optimizer: {}, state: { step, config: micro } });
  return state;
}
