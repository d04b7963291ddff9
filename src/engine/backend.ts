import * as tf from "@tensorflow/tfjs";

export type BackendName = "cpu" | "wasm" | "webgl" | "webgpu";

export interface EngineInfo {
  backend: string;
  tfjsVersion: string;
}

/**
 * Select and initialise the tensor backend. The one place that decides which kernels run;
 * the native kernel pack (engine-speed issue) registers here.
 */
export async function initEngine(options: { backend?: BackendName } = {}): Promise<EngineInfo> {
  const backend = options.backend ?? "cpu";
  const ok = await tf.setBackend(backend);
  if (!ok) throw new Error(`Could not initialise the TensorFlow.js backend "${backend}"`);
  await tf.ready();
  silenceNodeHint();
  return { backend: tf.getBackend(), tfjsVersion: tf.version.tfjs };
}

/** The cpu backend prints an advert for tfjs-node on first use; it is not installable here and only adds noise. */
function silenceNodeHint(): void {
  const backend = tf.backend() as unknown as { firstUse?: boolean };
  if ("firstUse" in backend) backend.firstUse = false;
}
