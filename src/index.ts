/**
 * sseg's public API: open-vocabulary semantic segmentation.
 *
 *   import { loadSegmenter } from "sseg";
 *   const seg = await loadSegmenter("runs/tiny");          // a run, checkpoint or .safetensors model
 *   const { labelMap, segments } = await seg.segment("photo.jpg", ["cat", "dog", "grass"]);
 *   for (const s of segments) console.log(s.label, s.pixels, s.score.toFixed(2));
 *   seg.dispose();
 */

export {
  COCO_THING_CLASSES,
  CONTEXT59_CLASSES,
  DATASET_NAMES,
  openSegmentationDataset,
  type SegmentationDataset,
  VOC20_CLASSES,
} from "./data/datasets.js";
export { DataError, openPairSource, type PairSource } from "./data/pairs.js";
export { type EvaluateOptions, type EvaluationResult, evaluate } from "./eval/evaluate.js";
export { IoUAccumulator, type SegmentationMetrics } from "./eval/miou.js";
export {
  hasDefaultModel,
  type LoadSegmenterOptions,
  loadSegmenter,
  type SegmenterSource,
} from "./infer/load.js";
export { SelfTrainedSegmenter } from "./infer/selftrained.js";
export { readImage } from "./io/image.js";
export { readLabelPng, renderOverlay, writeLabelPng } from "./io/label-png.js";
export { CONFIGS, paper, tiny } from "./model/presets.js";
export { TEMPLATE_PRESETS } from "./model/prompts.js";
export { SSegModel } from "./model/sseg.js";
export * from "./shared-api.js";
export { VERSION } from "./version.js";
export { loadWeights } from "./weights/index.js";
