/**
 * The page: load the shipped model (progress bar), take an image (file, drop, paste or a sample) and a vocabulary,
 * segment with the library's own Segmenter, draw the overlay with a legend, per-class toggles and pixel shares.
 * Every failure ends in the #error line, never a blank page.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import wasmPlain from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url";
import wasmSimd from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url";
import wasmThreaded from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url";
import {
  type BackendName,
  decodeImage,
  distinctColours,
  loadSegmenterFromUrl,
  type RgbImage,
  type SegmentationResult,
  type Segmenter,
  type SegmentOptions,
} from "../dist/src/browser.js";

const MODEL = {
  config: new URL("../assets/model/config.json", import.meta.url).href,
  weights: new URL("../assets/model/model.safetensors", import.meta.url).href,
};
const SAMPLES: Record<string, string> = {
  dingo: new URL("../samples/composite_00046.jpg", import.meta.url).href,
  ladybird: new URL("../samples/ladybird.jpg", import.meta.url).href,
  dune: new URL("../samples/dune.jpg", import.meta.url).href,
};
/** A starting vocabulary from the classes the shipped model was trained on (any words can be typed). */
const STARTING_CLASSES = "dog, pig, rabbit, cow, bird, insect, tree, flower, car, boat";
/** How strongly a class colour covers its pixels in the overlay. */
const OVERLAY_ALPHA = 0.55;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const errorLine = $<HTMLParagraphElement>("error");

function showError(message: string): void {
  errorLine.textContent = message;
  errorLine.hidden = false;
}

function clearError(): void {
  errorLine.hidden = true;
}

let segmenter: Segmenter | undefined;
let image: RgbImage | undefined;
let result: SegmentationResult | undefined;
const hidden = new Set<number>();

setWasmPaths({
  "tfjs-backend-wasm.wasm": wasmPlain,
  "tfjs-backend-wasm-simd.wasm": wasmSimd,
  "tfjs-backend-wasm-threaded-simd.wasm": wasmThreaded,
});

/** webgpu, then webgl, then wasm, then cpu: the first backend this browser can initialise (or ?backend=…). */
async function loadModel(): Promise<void> {
  const asked = new URLSearchParams(location.search).get("backend") as BackendName | null;
  const candidates: BackendName[] = asked ? [asked] : ["webgpu", "webgl", "wasm", "cpu"];
  const progress = $<HTMLProgressElement>("model-progress");
  const status = $<HTMLSpanElement>("model-status");
  let lastError: unknown;
  for (const backend of candidates) {
    try {
      segmenter = await loadSegmenterFromUrl(MODEL, {
        backend,
        onProgress: (p) => {
          progress.value = p.progress;
          status.textContent = p.status;
        },
      });
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (!segmenter) throw lastError;
  $("loading").hidden = true;
  $<HTMLParagraphElement>("engine").textContent =
    `Backend: ${segmenter.engine.backend} (TensorFlow.js ${tf.version.tfjs}); model: ${segmenter.description}.`;
  updateRunButton();
}

function updateRunButton(): void {
  $<HTMLButtonElement>("run").disabled = !(segmenter && image);
}

async function takeImage(source: Blob | string): Promise<void> {
  clearError();
  try {
    image = await decodeImage(source);
  } catch (err) {
    image = undefined;
    showError(`Not an image: ${(err as Error).message}`);
  }
  updateRunButton();
  if (image && segmenter) await run();
}

function options(): SegmentOptions {
  const rule = $<HTMLSelectElement>("background").value;
  if (rule === "none") return { background: false };
  if (rule === "threshold")
    return { background: { threshold: Number($<HTMLInputElement>("threshold").value) } };
  return {};
}

async function run(): Promise<void> {
  if (!segmenter || !image) return;
  clearError();
  const classes = $<HTMLInputElement>("classes")
    .value.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (classes.length === 0) {
    showError("The vocabulary is empty: type at least one class name, e.g. cow, tree.");
    return;
  }
  $<HTMLButtonElement>("run").disabled = true;
  try {
    const started = performance.now();
    result = await segmenter.segment(image, classes, options());
    const ms = performance.now() - started;
    $<HTMLParagraphElement>("timing").textContent =
      `${image.width}×${image.height} segmented in ${ms.toFixed(0)} ms on ${segmenter.engine.backend}.`;
    hidden.clear();
    draw();
  } catch (err) {
    showError((err as Error).message);
  } finally {
    updateRunButton();
  }
}

/** The image with each shown class's colour blended over its pixels, and the legend rows. */
function draw(): void {
  if (!image || !result) return;
  const canvas = $<HTMLCanvasElement>("view");
  canvas.width = image.width;
  canvas.height = image.height;
  const colours = distinctColours(result.classes.length);
  const pixels = new ImageData(image.width, image.height);
  for (let p = 0; p < image.width * image.height; p++) {
    const label = result.labelMap[p];
    const shown = label > 0 && !hidden.has(label);
    for (let c = 0; c < 3; c++) {
      const base = image.data[3 * p + c];
      pixels.data[4 * p + c] = shown
        ? Math.round((1 - OVERLAY_ALPHA) * base + OVERLAY_ALPHA * colours[3 * (label - 1) + c])
        : base;
    }
    pixels.data[4 * p + 3] = 255;
  }
  (canvas.getContext("2d") as CanvasRenderingContext2D).putImageData(pixels, 0, 0);
  const total = image.width * image.height;
  const rows = result.classes.map((name, i) => {
    const segment = result?.segments.find((s) => s.label === name);
    const share = segment ? (100 * segment.pixels) / total : 0;
    const [r, g, b] = colours.subarray(3 * i, 3 * i + 3);
    return `<tr data-label="${i + 1}"><td><input type="checkbox" ${hidden.has(i + 1) ? "" : "checked"} ${segment ? "" : "disabled"} /></td>
      <td><span class="swatch" style="background: rgb(${r}, ${g}, ${b})"></span>${escapeHtml(name)}</td>
      <td>${share.toFixed(1)} %</td><td>${segment ? segment.score.toFixed(2) : "–"}</td></tr>`;
  });
  const background = result.labelMap.filter((l) => l === 0).length;
  rows.push(
    `<tr><td></td><td>background</td><td>${((100 * background) / total).toFixed(1)} %</td><td></td></tr>`,
  );
  const body = $<HTMLTableElement>("legend").tBodies[0];
  body.innerHTML = rows.join("");
  $("result").hidden = false;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function wireUp(): void {
  $<HTMLInputElement>("classes").value = STARTING_CLASSES;
  const file = $<HTMLInputElement>("file");
  file.addEventListener("change", () => {
    if (file.files?.[0]) void takeImage(file.files[0]);
  });
  const drop = $<HTMLDivElement>("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const dropped = event.dataTransfer?.files[0];
    if (dropped) void takeImage(dropped);
  });
  document.addEventListener("paste", (event) => {
    const pasted = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (pasted) void takeImage(pasted);
  });
  const samples = $<HTMLDivElement>("samples");
  samples.append("Or a sample: ");
  for (const [name, url] of Object.entries(SAMPLES)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.dataset.sample = name;
    button.addEventListener("click", () => void takeImage(url));
    samples.append(button);
  }
  const background = $<HTMLSelectElement>("background");
  background.addEventListener("change", () => {
    $<HTMLInputElement>("threshold").hidden = background.value !== "threshold";
  });
  $<HTMLButtonElement>("run").addEventListener("click", () => void run());
  $<HTMLTableElement>("legend").addEventListener("change", (event) => {
    const row = (event.target as HTMLElement).closest("tr");
    const label = Number(row?.dataset.label);
    if (!label) return;
    if ((event.target as HTMLInputElement).checked) hidden.delete(label);
    else hidden.add(label);
    draw();
  });
}

wireUp();
loadModel().catch((err: Error) => {
  $("loading").hidden = true;
  showError(`The model could not be loaded: ${err.message}`);
});
