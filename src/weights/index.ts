/**
 * Weights from a file, by name: safetensors, or a PyTorch checkpoint read without Python (see pth.ts). Values
 * come out as float32 under the file's own names; toDinoVitStateDict maps a foreign ViT to DINO's names.
 */
import { extname } from "node:path";
import { CheckpointError } from "../io/checkpoint-error.js";
import { type StoredTensor, toFloat32 } from "../io/safetensors.js";
import { readSafetensors } from "../io/safetensors-file.js";
import type { TensorData } from "../nn/module.js";
import { readTorchStateDict } from "./pth.js";

export { UnpicklingError } from "./pickle.js";
export { detectVitLayout, toDinoVitStateDict, VitKeysError, type VitLayout } from "./vit-keys.js";

/** File extensions of torch.save checkpoints (`.bin` as in Hugging Face's pytorch_model.bin). */
const TORCH_EXTENSIONS = [".pth", ".pt", ".bin"];

/**
 * Every tensor of a .safetensors file, or of the state dict in a .pth/.pt/.bin checkpoint (see findStateDict),
 * as float32. Integer tensors (num_batches_tracked) are converted too, as toFloat32 does for safetensors.
 */
export async function loadWeights(path: string): Promise<Map<string, TensorData>> {
  const extension = extname(path).toLowerCase();
  let stored: Map<string, StoredTensor>;
  if (extension === ".safetensors") stored = (await readSafetensors(path)).tensors;
  else if (TORCH_EXTENSIONS.includes(extension)) stored = await readTorchStateDict(path);
  else
    throw new CheckpointError(
      `${path}: unknown weights format "${extension}" (expected .safetensors, ${TORCH_EXTENSIONS.join(", ")})`,
    );
  const weights = new Map<string, TensorData>();
  for (const [name, tensor] of stored) {
    try {
      weights.set(name, { shape: tensor.shape, data: toFloat32(tensor) });
    } catch (err) {
      throw new CheckpointError(`${path}: tensor "${name}": ${(err as Error).message}`);
    }
  }
  return weights;
}
