/**
 * A segmenter for a model served over HTTP — the browser's `loadSegmenter`: `config.json` and `model.safetensors`
 * (a model folder as `sseg export` writes it) fetched from `baseUrl`, with progress while the weights download.
 * No file system is touched, so the page runs the same Segmenter as Node.
 */
import { type BackendName, initEngine } from "../engine/backend.js";
import { CheckpointError } from "../io/checkpoint-error.js";
import { parseSafetensors, toFloat32 } from "../io/safetensors.js";
import { checkConfig, SSegModel } from "../model/sseg.js";
import type { TensorData } from "../nn/module.js";
import { ClipTokenizer } from "../text/tokenizer.js";
import { Segmenter } from "./segmenter.js";

export interface LoadFromUrlOptions {
  backend?: BackendName;
  /** Loading progress: which step and the fraction done (the weights' download is most of it). */
  onProgress?: (progress: { status: "engine" | "model" | "tokenizer" | "ready"; progress: number }) => void;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url).catch((err: Error) => {
    throw new CheckpointError(`${url}: cannot fetch (${err.message})`);
  });
  if (!response.ok) throw new CheckpointError(`${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

/** The body of a response, reporting the fraction received when the size is known. */
async function download(response: Response, onFraction: (fraction: number) => void): Promise<Uint8Array> {
  const total = Number(response.headers.get("content-length")) || 0;
  if (!response.body || total === 0) return new Uint8Array(await response.arrayBuffer());
  const bytes = new Uint8Array(total);
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > total) throw new Error(`${response.url}: more bytes than Content-Length`);
    bytes.set(value, received);
    received += value.length;
    onFraction(received / total);
  }
  return received === total ? bytes : bytes.subarray(0, received);
}

/** A model folder's URL, or the URLs of its two files (as a bundler emits them). */
export type ModelUrls = string | { config: string; weights: string };

export async function loadSegmenterFromUrl(
  source: ModelUrls,
  options: LoadFromUrlOptions = {},
): Promise<Segmenter> {
  const report = options.onProgress ?? (() => {});
  const base = typeof source === "string" ? (source.endsWith("/") ? source : `${source}/`) : undefined;
  const configUrl = base ? `${base}config.json` : (source as { config: string }).config;
  const weightsUrl = base ? `${base}model.safetensors` : (source as { weights: string }).weights;
  report({ status: "engine", progress: 0 });
  const engine = await initEngine({ backend: options.backend });
  report({ status: "model", progress: 0.05 });
  const config = checkConfig(
    await (await fetchOk(configUrl)).json().catch(() => {
      throw new CheckpointError(`${configUrl}: not JSON`);
    }),
    configUrl,
  );
  const bytes = await download(await fetchOk(weightsUrl), (f) =>
    report({ status: "model", progress: 0.05 + 0.8 * f }),
  );
  const weights = new Map<string, TensorData>();
  for (const [name, tensor] of parseSafetensors(bytes, weightsUrl).tensors)
    weights.set(name, { shape: tensor.shape, data: toFloat32(tensor) });
  const model = new SSegModel(config);
  try {
    model.loadStateDict(weights);
  } catch (err) {
    model.dispose();
    throw new CheckpointError(
      `${weightsUrl}: does not fit the configuration "${config.name}": ${(err as Error).message}`,
    );
  }
  report({ status: "tokenizer", progress: 0.9 });
  const tokenizer = await ClipTokenizer.load();
  report({ status: "ready", progress: 1 });
  return new Segmenter(model.eval(), tokenizer, {
    description: `${config.name} (${weightsUrl})`,
    trained: true,
    engine,
  });
}
