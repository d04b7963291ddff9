/**
 * sseg's public API in the browser (the package's "browser" export): the same Segmenter, loaded over HTTP.
 * Bundlers swap the Node-only modules for their `.browser.js` twins through the package's "browser" field.
 *
 *   import { loadSegmenterFromUrl } from "sseg";
 *   const seg = await loadSegmenterFromUrl("/model/", { backend: "webgl" });   // config.json + model.safetensors
 *   const { segments } = await seg.segment(fileOrBlobOrUrl, ["cat", "dog", "grass"]);
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
export { decodeImage } from "./io/decode.browser.js";
export { distinctColours, vocPalette } from "./io/palette.js";
export { ImageError, type ImageInput, type RawImageInput, type RgbImage } from "./io/pixels.js";
export type { BackgroundRule, InferenceConfig, SSegConfig, Templates } from "./model/sseg.js";
