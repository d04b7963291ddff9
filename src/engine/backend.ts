import * as tf from "@tensorflow/tfjs";

export type BackendName = "cpu" | "wasm" | "webgl" | "webgpu";

export interface EngineInfo {
  backend: string;
  tfjsVersion: string;
  /** The native kernel pack in use (cpu backend in Node), or why the stock kernels run instead. */
  native: { path: string; threads: number } | { reason: string };
}

export interface EngineOptions {
  backend?: BackendName;
  /** Use the native kernel pack on the cpu backend in Node (default true; SSEG_NATIVE=0 also turns it off). */
  native?: boolean;
  /** Threads for native kernels (default: all cores). */
  threads?: number;
}

let nativeState: EngineInfo["native"] | undefined;

/**
 * Select and initialise the tensor backend. The one place that decides which kernels run: on the cpu
 * backend in Node it installs the native kernel pack, falling back to tfjs's own kernels with one warning.
 */
export async function initEngine(options: EngineOptions = {}): Promise<EngineInfo> {
  const backend = options.backend ?? "cpu";
  const ok = await tf.setBackend(backend);
  if (!ok) throw new Error(`Could not initialise the TensorFlow.js backend "${backend}"`);
  await tf.ready();
  silenceNodeHint();
  if (backend === "cpu" && nativeState === undefined) nativeState = await setUpNative(options);
  return {
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
    native: nativeState ?? { reason: `not used on the ${backend} backend` },
  };
}

async function setUpNative(options: EngineOptions): Promise<EngineInfo["native"]> {
  if (options.native === false) return { reason: "disabled by the caller" };
  if (typeof process === "undefined" || !process.versions?.node) return { reason: "not running in Node" };
  const { loadNativePack } = await import("./native.js");
  const loaded = loadNativePack();
  if (!loaded.pack) {
    if (!loaded.reason.startsWith("disabled"))
      console.warn(
        `sseg: native kernels unavailable, using the slower stock tfjs kernels (${loaded.reason})`,
      );
    return { reason: loaded.reason };
  }
  if (options.threads !== undefined) loaded.pack.setNumThreads(options.threads);
  const { installNativeKernels } = await import("./kernels/index.js");
  installNativeKernels(loaded.pack);
  return { path: loaded.path, threads: loaded.pack.numThreads() };
}

/** The cpu backend prints an advert for tfjs-node on first use; it is not installable here and only adds noise. */
function silenceNodeHint(): void {
  const backend = tf.backend() as unknown as { firstUse?: boolean };
  if ("firstUse" in backend) backend.firstUse = false;
}
