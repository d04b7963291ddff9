/**
 * Foreign ViT state dicts → the names of DINO's vision_transformer.py, which our ViT uses. The source is told
 * apart by a sentinel key, as timm's checkpoint_filter_fn does, and the part of the key before it is the
 * backbone's prefix; keys outside the prefix (DINO's projection head, a classifier) are not the backbone.
 * - DINO (dino_deitsmall8_pretrain.pth; full checkpoints under `backbone.` / `module.backbone.`), timm
 *   (vit_small_patch8_224.dino) and MAE (mae_pretrain_vit_base.pth, under `model`) share the names: only prefixes,
 *   the classification `head` and MAE's decoder (`decoder_*`, `mask_token`) go.
 * - Hugging Face ViTModel (facebook/dino-vits8, optionally under `vit.`): renamed, the `pooler` dropped, and the
 *   separate query/key/value projections concatenated into qkv in that order, which is how DINO splits qkv.
 */
import type { TensorData } from "../nn/module.js";

export class VitKeysError extends Error {
  override name = "VitKeysError";
}

export type VitLayout = "dino" | "huggingface";

const SENTINELS: [VitLayout, string][] = [
  ["dino", "patch_embed.proj.weight"],
  ["huggingface", "embeddings.patch_embeddings.projection.weight"],
];

/** The heads each layout may carry inside the backbone prefix. */
const HEADS: Record<VitLayout, RegExp> = {
  dino: /^(head\.|decoder_|mask_token$)/,
  huggingface: /^pooler\./,
};

const HF_RENAMES: [RegExp, string][] = [
  [/^embeddings\.cls_token$/, "cls_token"],
  [/^embeddings\.position_embeddings$/, "pos_embed"],
  [/^embeddings\.patch_embeddings\.projection\./, "patch_embed.proj."],
  [/^encoder\.layer\.(\d+)\.layernorm_before\./, "blocks.$1.norm1."],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\./, "blocks.$1.attn.proj."],
  [/^encoder\.layer\.(\d+)\.layernorm_after\./, "blocks.$1.norm2."],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\./, "blocks.$1.mlp.fc1."],
  [/^encoder\.layer\.(\d+)\.output\.dense\./, "blocks.$1.mlp.fc2."],
  [/^layernorm\./, "norm."],
];
const HF_QKV = /^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/;
const QKV_ORDER = ["query", "key", "value"] as const;

/** Every key of DINO's ViT: a mapped key outside this set has no counterpart there. */
const DINO_KEY =
  /^(cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)|blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias))$/;

const KEYS_SHOWN = 6;

/** Which layout a state dict uses and the prefix its backbone sits under. */
export function detectVitLayout(keys: Iterable<string>): { layout: VitLayout; prefix: string } {
  const all = [...keys];
  const found: { layout: VitLayout; prefix: string }[] = [];
  for (const key of all)
    for (const [layout, sentinel] of SENTINELS) {
      const prefix = key.slice(0, -sentinel.length);
      if (key.endsWith(sentinel) && (prefix === "" || prefix.endsWith("."))) found.push({ layout, prefix });
    }
  if (found.length === 0)
    throw new VitKeysError(
      `unrecognised ViT layout: no key ends with ${SENTINELS.map(([, s]) => `"${s}"`).join(" or ")}; ` +
        `the ${all.length} keys start ${all.slice(0, KEYS_SHOWN).join(", ")}`,
    );
  if (found.length > 1)
    throw new VitKeysError(
      `several ViT backbones in one state dict, under ${found.map((f) => `"${f.prefix}"`).join(", ")}`,
    );
  return found[0];
}

/** The ViT backbone of `state` under DINO's names (tensors are shared, except the concatenated qkv). */
export function toDinoVitStateDict(state: ReadonlyMap<string, TensorData>): Map<string, TensorData> {
  const { layout, prefix } = detectVitLayout(state.keys());
  const out = new Map<string, TensorData>();
  const projections = new Map<string, Map<string, TensorData>>(); // qkv name → query/key/value parts
  for (const [key, tensor] of state) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (HEADS[layout].test(name)) continue;
    const qkv = layout === "huggingface" ? HF_QKV.exec(name) : null;
    if (qkv) {
      const [, block, part, kind] = qkv;
      const target = `blocks.${block}.attn.qkv.${kind}`;
      if (!projections.has(target)) projections.set(target, new Map());
      projections.get(target)!.set(part, tensor);
    } else out.set(layout === "huggingface" ? renameHuggingFace(name) : name, tensor);
  }
  for (const [target, parts] of projections) {
    const missing = QKV_ORDER.filter((part) => !parts.has(part));
    if (missing.length > 0) throw new VitKeysError(`${target}: the checkpoint lacks ${missing.join(", ")}`);
    out.set(
      target,
      concatRows(
        QKV_ORDER.map((part) => parts.get(part)!),
        target,
      ),
    );
  }
  const foreign = [...out.keys()].filter((k) => !DINO_KEY.test(k));
  if (foreign.length > 0)
    throw new VitKeysError(
      `${layout} layout under "${prefix}": keys with no counterpart in DINO's ViT: ` +
        foreign.slice(0, KEYS_SHOWN).join(", ") +
        (foreign.length > KEYS_SHOWN ? ` and ${foreign.length - KEYS_SHOWN} more` : ""),
    );
  return out;
}

/** The DINO name of a Hugging Face key; names no rule knows are returned unchanged (and then reported). */
function renameHuggingFace(name: string): string {
  for (const [pattern, replacement] of HF_RENAMES)
    if (pattern.test(name)) return name.replace(pattern, replacement);
  return name;
}

/** Concatenate tensors along their first dimension. */
function concatRows(parts: TensorData[], target: string): TensorData {
  const [first] = parts;
  const rowShape = first.shape.slice(1);
  for (const part of parts)
    if (
      part.shape.length === 0 ||
      part.shape.length !== first.shape.length ||
      part.shape.slice(1).some((d, i) => d !== rowShape[i])
    )
      throw new VitKeysError(
        `${target}: query/key/value shapes ${parts.map((p) => `[${p.shape}]`).join(", ")} do not stack`,
      );
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const part of parts) {
    data.set(part.data, offset);
    offset += part.data.length;
  }
  return { shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...rowShape], data };
}
