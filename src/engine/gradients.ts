/**
 * `variableGrads`: tf.variableGrads with a backward pass that frees memory as it goes, as PyTorch's autograd does.
 *
 * tfjs's own backward pass keeps every intermediate gradient and every tensor saved for the backward pass until
 * the whole pass ends, so a training step's peak holds all activations' gradients at once (measured on the `tiny`
 * step: 1.73 GB of tensors at the peak against 0.83 GB live at the end of the forward pass). Here a node's output
 * gradients and its saved tensors are released as soon as the walk has passed that node — its outputs' gradients
 * are complete by then, since every consumer of an output comes after it on the tape — and the saved tensors of
 * nodes off the path from the variables to the loss are released before the walk starts. The tape, the gradient
 * functions and the order of accumulation are tfjs's, so the gradients are bit-identical to tf.variableGrads.
 *
 * It reads the engine's tape (`state.activeTape`) and scopes, which tfjs does not export as API; the fields used
 * are typed below and checked at the first call, so a tfjs upgrade that changes them fails loudly here.
 */
import * as tf from "@tensorflow/tfjs";

/** One recorded kernel call, as tfjs's engine keeps it on its tape. */
interface TapeNode {
  id: number;
  kernelName: string;
  outputs: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The parts of tfjs's engine that its own `gradients()` uses. */
interface EngineInternals {
  state: { activeTape?: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

function engineInternals(): EngineInternals {
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  const ok =
    typeof engine.state === "object" &&
    typeof engine.state.gradientDepth === "number" &&
    typeof engine.scopedRun === "function" &&
    typeof engine.startTape === "function" &&
    typeof engine.endTape === "function";
  if (!ok)
    throw new Error(
      `variableGrads: this tfjs (${tf.version.tfjs}) engine has no gradient tape in the expected form`,
    );
  return engine as EngineInternals;
}

/**
 * The tape nodes on a path from one of `xs` to `y`, in tape order, each with only its inputs that depend on `xs`
 * (tfjs's getFilteredNodesXToY, which tfjs does not export).
 */
function nodesFromXsToY(tape: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape)
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const output of node.outputs) fromX.add(output.id);
      nodesFromX.add(node.id);
    }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((output) => toY.has(output.id))) {
      for (const input of Object.values(node.inputs)) toY.add(input.id);
      nodesToY.add(node.id);
    }
  }
  return tape
    .filter((node) => nodesFromX.has(node.id) && nodesToY.has(node.id))
    .map((node) => ({
      ...node,
      inputs: Object.fromEntries(Object.entries(node.inputs).filter(([, input]) => fromX.has(input.id))),
    }));
}

/**
 * The value of `f` and its gradients with respect to the trainable variables of `varList`, keyed by variable name
 * (as tf.variableGrads; variables `f` does not depend on are left out). Not for nesting inside another gradient.
 */
export function variableGrads(
  f: () => tf.Scalar,
  varList: readonly tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = engineInternals();
  if (engine.state.gradientDepth !== 0)
    throw new Error("variableGrads: cannot run inside another gradient computation");
  const xs = varList.filter((v) => v.trainable);
  if (xs.length === 0) throw new Error("variableGrads: none of the given variables is trainable");

  let tape: TapeNode[] = [];
  try {
    const y = engine.scopedRun(
      () => engine.startTape(),
      () => {
        engine.endTape();
        tape = engine.state.activeTape ?? [];
        engine.state.activeTape = null;
      },
      () => engine.tidy("forward", f),
    );
    if (!(y instanceof tf.Tensor) || y.rank !== 0) {
      tf.dispose(y);
      throw new Error("variableGrads: the function must return a scalar tensor");
    }
    const path = nodesFromXsToY(tape, xs, y);
    const onPath = new Set(path.map((node) => node.id));
    for (const node of tape) if (!onPath.has(node.id)) tf.dispose(node.saved ?? []);

    const grads = engine.tidy("backward", () => backpropagate(engine, path, y, xs));
    if (Object.keys(grads).length === 0) {
      tf.dispose(y);
      throw new Error("variableGrads: the function's value does not depend on any of the variables");
    }
    return { value: y, grads };
  } finally {
    for (const node of tape) tf.dispose(node.saved ?? []); // also after an error in f
  }
}

/** Walk `path` backwards from dy/dy = 1, releasing each node's output gradients and saved tensors after it. */
function backpropagate(
  engine: EngineInternals,
  path: readonly TapeNode[],
  y: tf.Tensor,
  xs: readonly tf.Variable[],
): tf.NamedTensorMap {
  const wanted = new Set(xs.map((x) => x.id));
  const gradientOf = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i];
    if (!node.gradient) throw new Error(`variableGrads: no gradient is registered for ${node.kernelName}`);
    const dys = node.outputs.map((output) => gradientOf.get(output.id) ?? null);
    const inputGradients = node.gradient(dys);
    for (const [name, x] of Object.entries(node.inputs)) {
      const gradient = inputGradients[name];
      if (!gradient)
        throw new Error(`variableGrads: ${node.kernelName} has no gradient for its input "${name}"`);
      // a gradient function may hand back a tensor it also gives elsewhere; a stored gradient must be its own
      let dx = engine.tidy(gradient);
      if ([...gradientOf.values()].includes(dx) || node.saved?.includes(dx)) dx = dx.clone();
      if (dx.dtype !== "float32" || !tf.util.arraysEqual(dx.shape, x.shape))
        throw new Error(
          `variableGrads: ${node.kernelName}'s gradient for "${name}" is ${dx.dtype} [${dx.shape}], ` +
            `its input float32 [${x.shape}]`,
        );
      const previous = gradientOf.get(x.id);
      if (previous) {
        gradientOf.set(x.id, tf.add(previous, dx));
        tf.dispose([previous, dx]);
      } else gradientOf.set(x.id, dx);
    }
    for (const output of node.outputs)
      if (!wanted.has(output.id)) {
        gradientOf.get(output.id)?.dispose();
        gradientOf.delete(output.id);
      }
    tf.dispose(node.saved ?? []);
  }
  const grads: tf.NamedTensorMap = {};
  for (const x of xs) {
    const gradient = gradientOf.get(x.id);
    if (gradient) grads[x.name] = gradient;
  }
  return grads;
}
