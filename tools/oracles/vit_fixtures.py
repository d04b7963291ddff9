"""PyTorch references for src/model/vit.ts: DINO's VisionTransformer, copied below from facebookresearch/dino.

Writes two files:
  test/fixtures/model/vit_s8_depth2.safetensors  a 2-block ViT-S/8 (full width 384): its weight manifest, the
                                                 inputs (NHWC) and, per input size, the tokens after the final
                                                 norm and the last block's attention keys.
  test/fixtures/model/vit_presets.json           parameter counts of the four presets, output shapes of ViT-S/8
                                                 and ViT-B/16 at 224² and 448².

The 2-block model has 3.9M parameters (15.7 MB as float32), too big to commit, so its weights are not stored:
each tensor is `offset + scale · u` with u ∈ [-1, 1) from a counter-based hash that test/model/vit.test.ts
reproduces bit for bit (counter_uniform below). The metadata lists every state-dict key of DINO's model with its
shape, offset and scale (config.weights), so the test still loads DINO's names and shapes through loadStateDict.

    /usr/bin/python3 tools/oracles/vit_fixtures.py
"""
import json
import math
from functools import partial

import numpy as np
import torch
import torch.nn as nn

from common import FIXTURES, nchw_to_nhwc, save_safetensors

OUT = FIXTURES / "model"
torch.manual_seed(0)

# ---------------------------------------------------------------------------------------------------------------
# From facebookresearch/dino vision_transformer.py (Copyright (c) Facebook, Inc. and its affiliates, Apache-2.0,
# http://www.apache.org/licenses/LICENSE-2.0), unchanged except: trimmed to inference (no dropout, drop path,
# qk_scale or classifier head) and torch's trunc_normal_ in place of DINO's identical copy in utils.py.


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU, drop=0.):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5

        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]

        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)

        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        x = self.proj(x)
        return x, attn


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, act_layer=nn.GELU, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = norm_layer(dim)
        mlp_hidden_dim = int(dim * mlp_ratio)
        self.mlp = Mlp(in_features=dim, hidden_features=mlp_hidden_dim, act_layer=act_layer)

    def forward(self, x):
        y, attn = self.attn(self.norm1(x))
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x


class PatchEmbed(nn.Module):
    """ Image to Patch Embedding
    """
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        num_patches = (img_size // patch_size) * (img_size // patch_size)
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = num_patches

        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        B, C, H, W = x.shape
        x = self.proj(x).flatten(2).transpose(1, 2)
        return x


class VisionTransformer(nn.Module):
    """ Vision Transformer """
    def __init__(self, img_size=[224], patch_size=16, in_chans=3, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4., qkv_bias=False, norm_layer=nn.LayerNorm):
        super().__init__()
        self.num_features = self.embed_dim = embed_dim

        self.patch_embed = PatchEmbed(
            img_size=img_size[0], patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        num_patches = self.patch_embed.num_patches

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))

        self.blocks = nn.ModuleList([
            Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_layer=norm_layer)
            for i in range(depth)])
        self.norm = norm_layer(embed_dim)

        nn.init.trunc_normal_(self.pos_embed, std=.02)
        nn.init.trunc_normal_(self.cls_token, std=.02)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def interpolate_pos_encoding(self, x, w, h):
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        class_pos_embed = self.pos_embed[:, 0]
        patch_pos_embed = self.pos_embed[:, 1:]
        dim = x.shape[-1]
        w0 = w // self.patch_embed.patch_size
        h0 = h // self.patch_embed.patch_size
        # we add a small number to avoid floating point error in the interpolation
        # see discussion at https://github.com/facebookresearch/dino/issues/8
        w0, h0 = w0 + 0.1, h0 + 0.1
        patch_pos_embed = nn.functional.interpolate(
            patch_pos_embed.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
            scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)),
            mode='bicubic',
        )
        assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)

    def prepare_tokens(self, x):
        B, nc, w, h = x.shape
        x = self.patch_embed(x)  # patch linear embedding

        # add the [CLS] token to the embed patch tokens
        cls_tokens = self.cls_token.expand(B, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)

        # add positional encoding to each token
        x = x + self.interpolate_pos_encoding(x, w, h)

        return x

    def get_intermediate_layers(self, x, n=1):
        x = self.prepare_tokens(x)
        # we return the output tokens from the `n` last blocks
        output = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if len(self.blocks) - i <= n:
                output.append(self.norm(x))
        return output


def vit_small(patch_size=16, **kwargs):
    model = VisionTransformer(
        patch_size=patch_size, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4,
        qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), **kwargs)
    return model


def vit_base(patch_size=16, **kwargs):
    model = VisionTransformer(
        patch_size=patch_size, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4,
        qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), **kwargs)
    return model

# End of the DINO code.
# ---------------------------------------------------------------------------------------------------------------


def counter_uniform(seed: int, n: int) -> np.ndarray:
    """u_i ∈ [-1, 1) for i < n: murmur3's fmix32 of (i + seed·0x9e3779b9) mod 2³², as float64."""
    x = np.arange(n, dtype=np.uint32) + np.uint32((seed * 0x9E3779B9) & 0xFFFFFFFF)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return x.astype(np.float64) / 4294967296 * 2 - 1


def weight_manifest(model: nn.Module) -> list:
    """[name, shape, offset, scale] per state-dict key: unit-variance matrices, LayerNorm gains near 1, small
    biases, and a large position embedding so interpolation mistakes show in the tokens."""
    manifest = []
    for name, t in model.state_dict().items():
        if name in ("cls_token", "pos_embed"):
            offset, scale = 0.0, 0.5
        elif t.dim() >= 2:
            offset, scale = 0.0, math.sqrt(3 / (t[0].numel()))  # U(-a, a) with variance 1/fan_in
        elif name.endswith("weight"):
            offset, scale = 1.0, 0.2  # LayerNorm gain
        else:
            offset, scale = 0.0, 0.1
        manifest.append([name, list(t.shape), offset, scale])
    return manifest


def load_manifest(model: nn.Module, manifest: list) -> None:
    state = {}
    for seed, (name, shape, offset, scale) in enumerate(manifest, start=1):
        values = (offset + scale * counter_uniform(seed, math.prod(shape))).astype(np.float32)
        state[name] = torch.from_numpy(values.reshape(shape))
    model.load_state_dict(state)


@torch.no_grad()
def tokens_and_keys(model: VisionTransformer, images: torch.Tensor):
    """Tokens after the final norm, and the last block's keys read off its qkv output as LOST does."""
    captured = {}
    hook = model.blocks[-1].attn.qkv.register_forward_hook(lambda m, i, out: captured.update(qkv=out))
    tokens = model.get_intermediate_layers(images)[0]
    hook.remove()
    b, n, _ = tokens.shape
    heads = model.blocks[-1].attn.num_heads
    qkv = captured["qkv"].reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, N, d)
    keys = qkv[1].transpose(1, 2).reshape(b, n, -1)  # (B, N, heads·d)
    return tokens, keys


def write_depth2_fixture():
    model = vit_small(patch_size=8)
    model.blocks = model.blocks[:2]
    model.eval()
    manifest = weight_manifest(model)
    load_manifest(model, manifest)
    # name → (batch, height, width, tokens stored); the 224² case stores only the first 64 tokens to stay small.
    cases = {"32x32": (2, 32, 32, None), "24x40": (1, 24, 40, None), "64x64": (1, 64, 64, None),
             "224x224": (1, 224, 224, 64)}
    tensors = {"generator_check": counter_uniform(1, 8)}
    for name, (batch, height, width, stored) in cases.items():
        images = torch.randn(batch, 3, height, width)
        tokens, keys = tokens_and_keys(model, images)
        tensors[f"input.{name}"] = nchw_to_nhwc(images)
        tensors[f"tokens.{name}"] = tokens[:, :stored]
        tensors[f"keys.{name}"] = keys[:, :stored]
        print(f"{name}: images {tuple(images.shape)} → tokens {tuple(tokens.shape)}, keys {tuple(keys.shape)}")
    config = {"preset": "vit_small_patch8", "depth": 2, "weights": manifest,
              "cases": {k: {"batch": b, "height": h, "width": w, "storedTokens": s} for k, (b, h, w, s) in cases.items()}}
    path = OUT / "vit_s8_depth2.safetensors"
    save_safetensors(path, tensors, {"config": config})
    print(f"{path.relative_to(FIXTURES.parents[1])}: {path.stat().st_size / 1e6:.2f} MB")


def write_presets():
    presets = {"vit_small_patch8": partial(vit_small, 8), "vit_small_patch16": partial(vit_small, 16),
               "vit_base_patch8": partial(vit_base, 8), "vit_base_patch16": partial(vit_base, 16)}
    out = {}
    for name, build in presets.items():
        model = build().eval()
        entry = {"parameters": sum(p.numel() for p in model.parameters())}
        if name in ("vit_small_patch8", "vit_base_patch16"):
            for size in (224, 448):
                tokens, keys = tokens_and_keys(model, torch.randn(1, 3, size, size))
                entry[f"{size}"] = {"tokens": list(tokens.shape), "keys": list(keys.shape)}
        out[name] = entry
        print(f"{name}: {entry}")
    path = OUT / "vit_presets.json"
    path.write_text("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()) + "\n}\n")


if __name__ == "__main__":
    write_depth2_fixture()
    write_presets()
