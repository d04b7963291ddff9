/**
 * sseg's public API in the browser (the package's "browser" export): the same Segmenter, loaded over HTTP.
 * Bundlers swap the Node-only modules for their `.browser.js` twins through the package's "browser" field.
 *
 *   import { loadSegmenterFromUrl } from "sseg";
 *   const seg = await loadSegmenterFromUrl("/model/", { backend: "webgl" });   // config.json + model.safetensors
 *   const { segments } = await seg.segment(fileOrBlobOrUrl, ["cat", "dog", "grass"]);
 */
export * from "./shared-api.js";
