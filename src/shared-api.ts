/**
 * The part of sseg's public API that Node (`index.ts`) and the browser (`browser.ts`) both export: the segmenter,
 * loaded over HTTP, and its inputs and results. `decodeImage` is sharp's decoder in Node and the browser's own
 * behind the package's "browser" field.
 */
export { type BackendName, type EngineInfo, initEngine } from "./engine/backend.js";
export { type LoadFromUrlOptions, loadSegmenterFromUrl, type ModelUrls } from "./infer/load-url.js";
export {
  DEFAULT_BACKGROUND_THRESHOLD,
  type ImageSegmenter,
  type Prediction,
  type Segment,
  type SegmentationResult,
  Segmenter,
  SegmenterError,
  type SegmentOptions,
} from "./infer/segmenter.js";
export { CheckpointError } from "./io/checkpoint-error.js";
export { decodeImage } from "./io/decode.js";
export { distinctColours, vocPalette } from "./io/palette.js";
export { ImageError, type ImageInput, type RawImageInput, type RgbImage } from "./io/pixels.js";
export type { BackgroundRule, InferenceConfig, SSegConfig, Templates } from "./model/sseg.js";
