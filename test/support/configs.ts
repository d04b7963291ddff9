import { join } from "node:path";
import { type SSegConfig, SSegModel, tiny } from "../../src/model/sseg.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";

/** The tiny configuration shrunk further (64², 16-wide Swin, 6 queries), so tests train and infer in seconds. */
export const micro: SSegConfig = {
  ...tiny,
  name: "micro",
  imageSize: 64,
  backbone: { ...tiny.backbone, embedDim: 16, depths: [1, 1, 2, 1], numHeads: [1, 1, 2, 2] },
  pixelDecoder: { convDim: 16, maskDim: 16, normGroups: 4 },
  decoder: { ...tiny.decoder, hiddenDim: 32, heads: 2, feedforwardDim: 64, layers: 2, queries: 6 },
  text: { ...tiny.text, width: 32, layers: 1, heads: 1 },
  projector: { hiddenDim: 32, outDim: 16 },
  inference: { shortSide: 64, mode: "whole", crop: 64, stride: 32 },
};

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
