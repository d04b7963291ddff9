/**
 * The platform's image decoder for the segmenter: sharp in Node (`image.ts`). Browser builds map this module to
 * `decode.browser.ts` (the package's "browser" field; web/vite.config.ts), which decodes with the browser's own
 * codecs, so the segmenter's code is the same on both.
 */
export { readImage as decodeImage } from "./image.js";
