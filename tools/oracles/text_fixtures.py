"""PyTorch references for src/model/text-transformer.ts and src/model/projector.ts: GroupViT's TextTransformer
and its ProjectMLP.

Licensing. GroupViT as a whole is under the NVIDIA Source Code License (non-commercial), so no GroupViT code is
copied here: TextTransformer and ProjectMLP are re-expressed from GroupViT's structure (same modules, state-dict
names, initialisation and order of operations). The blocks they build on are OpenAI CLIP's, copied verbatim from
openai/CLIP under its MIT licence (notice below).

Writes three files:
  test/fixtures/model/text_transformer_w64_l2.safetensors  a 2-layer, width-64, 2-head TextTransformer with the full
      49408-token vocabulary: its weight manifest, three real captions' token ids (CLIP's tokenizer, from
      test/fixtures/text/clip_tokens.json; one truncated to the full 77 positions), the pooled output, and the
      gradients of sum(output · cotangent) w.r.t. the token-embedding rows used, the positional embedding, every
      weight of block 0 and the final LayerNorm.
  test/fixtures/model/text_projector.safetensors  a 12 → 20 → 6 ProjectMLP in train mode ([B, C] and [B, L, C]
      inputs, with the running statistics after one step) and in eval mode: outputs and all gradients.
  test/fixtures/model/text_presets.json  parameter counts of the paper's TextTransformer (12 × 256, 4 heads) and
      ProjectMLP (256 → 4096 → 256), and of the small CPU text configuration.

The text model has 3.3M parameters (13 MB as float32), too big to commit, so its weights are not stored: they are
regenerated from a manifest with the counter-based generator of vit_fixtures.py, which the test reproduces.

    /usr/bin/python3 tools/oracles/text_fixtures.py
"""
import json
from collections import OrderedDict

import torch
from torch import nn

from common import FIXTURES, randomize, save_safetensors
from vit_fixtures import counter_uniform, load_manifest, weight_manifest

OUT = FIXTURES / "model"
torch.manual_seed(0)

# ---------------------------------------------------------------------------------------------------------------
# Copied verbatim from openai/CLIP clip/model.py (commit d05afc4): LayerNorm, QuickGELU, ResidualAttentionBlock,
# Transformer. Their licence:
#
# MIT License
#
# Copyright (c) 2021 OpenAI
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.


class LayerNorm(nn.LayerNorm):
    """Subclass torch's LayerNorm to handle fp16."""

    def forward(self, x: torch.Tensor):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, attn_mask: torch.Tensor = None):
        super().__init__()

        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model))
        ]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x: torch.Tensor):
        self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        return self.attn(x, x, x, need_weights=False, attn_mask=self.attn_mask)[0]

    def forward(self, x: torch.Tensor):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, attn_mask: torch.Tensor = None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x: torch.Tensor):
        return self.resblocks(x)

# End of the CLIP code.
# ---------------------------------------------------------------------------------------------------------------


def init_text_transformer(transformer: Transformer) -> None:
    """CLIP's initialisation of its text transformer's matrices (CLIP.initialize_parameters, the part for
    `transformer`): normal, std width^-1/2 for the attention input projections, (2·width)^-1/2 for the MLP's first
    layer, and width^-1/2 · (2·layers)^-1/2 for the two output projections, block after block."""
    attn_std = transformer.width ** -0.5
    fc_std = (2 * transformer.width) ** -0.5
    proj_std = attn_std * (2 * transformer.layers) ** -0.5
    for block in transformer.resblocks:
        nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
        nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
        nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)


class TextTransformer(nn.Module):
    """CLIP's text tower as a module of its own, the way GroupViT uses it (its models/transformer.py
    TextTransformer, re-expressed here, not copied): token embeddings plus learned positional embeddings, the CLIP
    Transformer above with a causal mask, a final LayerNorm, and each row's feature at its end-of-text token (the
    row's largest id), without CLIP's text projection. Parameters are created, initialised and registered in
    GroupViT's order and under its names (`transformer.*`, `positional_embedding`, `ln_final.*`,
    `token_embedding.weight`). `heads` defaults to GroupViT's width // 64 and is an argument so that a narrow test
    model still has several heads."""

    def __init__(self, context_length: int, width: int, layers: int, vocab_size: int, heads=None):
        super().__init__()
        self.context_length = context_length
        self.width = width
        causal = torch.full((context_length, context_length), float("-inf")).triu(1)  # additive, −∞ above diagonal
        self.transformer = Transformer(width, layers, heads or width // 64, attn_mask=causal)
        init_text_transformer(self.transformer)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.ln_final = nn.LayerNorm(width)
        self.token_embedding = nn.Embedding(vocab_size, width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)

    def forward(self, text):
        """Token ids [B, T] → [B, width]."""
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)  # the blocks run sequence-first
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)]


class ProjectMLP(nn.Module):
    """GroupViT's ProjectMLP (models/multi_label_contrastive.py) with its default two layers, re-expressed from
    GroupViT's design (NVIDIA Source Code License, not copied): the same modules under the same state-dict names,
    1×1 Conv1d in → inner, BatchNorm1d, ReLU, 1×1 Conv1d inner → out, applied to [B, C] or [B, L, C]."""

    def __init__(self, in_dim=256, inner_dim=4096, out_dim=256):
        super().__init__()
        self.linear_hidden = nn.Sequential(nn.Conv1d(in_dim, inner_dim, kernel_size=1), nn.BatchNorm1d(inner_dim),
                                           nn.ReLU(inplace=True))
        self.linear_out = nn.Conv1d(inner_dim, out_dim, kernel_size=1)

    def forward(self, x):
        squeeze = x.ndim == 2
        x = x.unsqueeze(1) if squeeze else x  # [B, L, C]
        x = self.linear_out(self.linear_hidden(x.transpose(1, 2))).transpose(1, 2)
        return x.squeeze(1) if squeeze else x


CAPTIONS = [
    "a photo of a cat.",
    "A bowl of ramen with a soft-boiled egg, nori and scallions",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 12),  # 120 tokens: truncated, EOT at position 76
]


def caption_rows() -> torch.Tensor:
    """CLIP token rows [3, 77] for CAPTIONS, read from the tokenizer fixture (clip.tokenize, truncate=True)."""
    cases = json.loads((FIXTURES / "text" / "clip_tokens.json").read_text())["cases"]
    rows = {c["text"]: c["row"] for c in cases}
    missing = [t for t in CAPTIONS if t not in rows]
    assert not missing, f"captions not in clip_tokens.json: {missing}"
    return torch.tensor([rows[t] for t in CAPTIONS], dtype=torch.long)


def write_text_fixture():
    model = TextTransformer(context_length=77, width=64, layers=2, vocab_size=49408, heads=2)
    manifest = weight_manifest(model)
    load_manifest(model, manifest)
    ids = caption_rows()
    out = model(ids)  # [3, 64]
    cotangent = torch.randn_like(out)
    params = dict(model.named_parameters())
    recorded = ["positional_embedding", "ln_final.weight", "ln_final.bias"] + [
        k for k in params if k.startswith("transformer.resblocks.0.")]
    grads = torch.autograd.grad((out * cotangent).sum(), [params["token_embedding.weight"]] +
                                [params[k] for k in recorded])
    used = sorted(set(ids.flatten().tolist()))
    tensors = {"generator_check": counter_uniform(1, 8), "input.ids": ids.float(), "output": out,
               "cotangent": cotangent, "grad.token_embedding_rows": grads[0][used]}
    for k, g in zip(recorded, grads[1:]):
        tensors[f"grad.state.{k}"] = g
    config = {"contextLength": 77, "vocabSize": 49408, "width": 64, "layers": 2, "heads": 2, "captions": CAPTIONS,
              "usedTokenIds": used, "weights": manifest}
    path = OUT / "text_transformer_w64_l2.safetensors"
    save_safetensors(path, tensors, {"config": config})
    print(f"{path.name}: output {tuple(out.shape)}, {len(used)} token rows, {path.stat().st_size / 1e3:.0f} kB")


def write_projector_fixture():
    projector = randomize(ProjectMLP(in_dim=12, inner_dim=20, out_dim=6))
    state = {k: v.clone() for k, v in projector.state_dict().items() if not k.endswith("num_batches_tracked")}
    tensors = {f"state.{k}": v for k, v in state.items()}
    cases = {"train_2d": (True, (6, 12)), "train_3d": (True, (2, 3, 12)), "eval_3d": (False, (2, 4, 12))}
    for name, (training, shape) in cases.items():
        projector.load_state_dict(state, strict=False)  # every case starts from the stored statistics
        projector.train(training)
        x = torch.randn(*shape, requires_grad=True)
        out = projector(x)
        cotangent = torch.randn_like(out)
        params = dict(projector.named_parameters())
        grads = torch.autograd.grad((out * cotangent).sum(), [x] + list(params.values()))
        tensors[f"{name}.input.x"] = x
        tensors[f"{name}.output"] = out
        tensors[f"{name}.cotangent"] = cotangent
        tensors[f"{name}.grad.input.x"] = grads[0]
        for k, g in zip(params, grads[1:]):
            tensors[f"{name}.grad.state.{k}"] = g
        if training:
            tensors[f"{name}.after.running_mean"] = projector.linear_hidden[1].running_mean.clone()
            tensors[f"{name}.after.running_var"] = projector.linear_hidden[1].running_var.clone()
        print(f"projector {name}: {tuple(x.shape)} → {tuple(out.shape)}")
    config = {"inDim": 12, "hiddenDim": 20, "outDim": 6, "cases": {k: {"training": t} for k, (t, _) in cases.items()}}
    save_safetensors(OUT / "text_projector.safetensors", tensors, {"config": config})


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def write_presets():
    presets = {
        "textTransformerPaper": count(TextTransformer(context_length=77, width=256, layers=12, vocab_size=49408)),
        "textTransformerSmall": count(TextTransformer(context_length=77, width=256, layers=4, vocab_size=49408)),
        "projectorPaper": count(ProjectMLP(256, 4096, 256)),
    }
    print(presets)
    (OUT / "text_presets.json").write_text(json.dumps(presets, indent=2) + "\n")


if __name__ == "__main__":
    write_text_fixture()
    write_projector_fixture()
    write_presets()
