/**
 * The module base class: a tree of named parameters and buffers, with PyTorch's dotted state-dict names and
 * PyTorch's parameter layouts (Linear weight [out, in], Conv2d weight [out, in, kh, kw]). Keeping PyTorch's
 * names and layouts means foreign checkpoints load by name and every layer can be compared with PyTorch directly.
 * Activations are channels-last (NHWC, tokens [B, N, C]), which is what TensorFlow.js kernels expect.
 */
import * as tf from "@tensorflow/tfjs";

/** A tensor as stored in a checkpoint: shape plus float32 values. */
export interface TensorData {
  shape: readonly number[];
  data: Float32Array;
}

export class StateDictError extends Error {
  override name = "StateDictError";
}

/** How many key problems an error names before it only counts the rest (a wrong file can have hundreds). */
const LISTED_PROBLEMS = 6;

/** Keys PyTorch stores that carry no values we use. */
const IGNORED_KEYS = [/(^|\.)num_batches_tracked$/];

export abstract class Module {
  training = true;
  private readonly params = new Map<string, tf.Variable>();
  private readonly buffers = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();

  /** Register a trainable parameter with PyTorch's name and layout. */
  protected param(name: string, shape: readonly number[], values: Float32Array): tf.Variable {
    // In a tidy so the temporary tensor is released; the variable keeps its own reference to the data.
    const v = tf.tidy(() => tf.variable(tf.tensor(values, [...shape], "float32"), true));
    this.params.set(name, v);
    return v;
  }

  /** Register a non-trainable state tensor (running statistics, fixed tables) that is saved with the weights. */
  protected buffer(name: string, shape: readonly number[], values: Float32Array): tf.Variable {
    const v = tf.tidy(() => tf.variable(tf.tensor(values, [...shape], "float32"), false));
    this.buffers.set(name, v);
    return v;
  }

  protected module<M extends Module>(name: string, child: M): M {
    this.children.set(name, child);
    return child;
  }

  /** Parameters with their dotted names, depth first, in registration order. */
  namedParameters(prefix = ""): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    for (const [name, p] of this.params) out.push([prefix + name, p]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  namedBuffers(prefix = ""): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    for (const [name, b] of this.buffers) out.push([prefix + name, b]);
    for (const [name, child] of this.children) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, p]) => p);
  }

  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Everything a checkpoint holds: parameters and buffers by dotted name. */
  stateDict(): Map<string, tf.Variable> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copy values from `state` by name; every missing, unexpected or mis-shaped key is named in the error. */
  loadStateDict(
    state: Map<string, TensorData> | Record<string, TensorData>,
    options: { strict?: boolean } = {},
  ): void {
    const strict = options.strict ?? true;
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const problems: string[] = [];
    for (const [name, v] of own) {
      const src = entries.get(name);
      if (!src) {
        if (strict) problems.push(`missing key "${name}" (expected shape [${v.shape}])`);
        continue;
      }
      if (src.shape.length !== v.shape.length || src.shape.some((d, i) => d !== v.shape[i])) {
        problems.push(`key "${name}": checkpoint shape [${src.shape}] but the model expects [${v.shape}]`);
      }
    }
    if (strict) {
      for (const name of entries.keys()) {
        if (!own.has(name) && !IGNORED_KEYS.some((re) => re.test(name)))
          problems.push(`unexpected key "${name}"`);
      }
    }
    if (problems.length > 0) throw new StateDictError(describeProblems(problems));
    tf.tidy(() => {
      for (const [name, v] of own) {
        const src = entries.get(name);
        if (src) v.assign(tf.tensor(src.data, [...src.shape], "float32"));
      }
    });
  }

  /** This module and every descendant, depth first. */
  modules(): Module[] {
    return [this, ...[...this.children.values()].flatMap((child) => child.modules())];
  }

  /** Set training mode on this module and all children (BatchNorm statistics, DropPath, dropout). */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const b of this.buffers.values()) b.dispose();
    for (const child of this.children.values()) child.dispose();
  }
}

function describeProblems(problems: string[]): string {
  const count = (prefix: string) => problems.filter((p) => p.startsWith(prefix)).length;
  const summary = `${count("missing")} missing, ${count("unexpected")} unexpected, ${count("key ")} mis-shaped key(s)`;
  const rest = problems.length - LISTED_PROBLEMS;
  return `Cannot load state dict (${summary}): ${problems.slice(0, LISTED_PROBLEMS).join("; ")}${rest > 0 ? `; and ${rest} more` : ""}`;
}

/** A list of modules named "0", "1", … like torch.nn.ModuleList. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.module(String(i), m));
  }
}
