"""PyTorch references for src/model/upernet.ts: S-Seg+'s UperNet on a ViT with layer scale (mmsegmentation's
`upernet_mae` configuration).

Licensing. mmsegmentation and mmcv are Apache-2.0 (http://www.apache.org/licenses/LICENSE-2.0); the heads and the
neck below follow mmseg's `decode_heads/uper_head.py`, `psp_head.py`, `fcn_head.py`, `decode_head.py` and
`necks/featurepyramid.py` with their state-dict names and order of operations, written against plain torch (mmcv's
ConvModule = Conv2d(bias=False) + BatchNorm2d + ReLU under the keys `conv`, `bn`; mmseg's `resize` = bilinear
F.interpolate, align_corners=False). The backbone is DINO's ViT from vit_fixtures.py with BEiT's layer scale
(`gamma_1`, `gamma_2`) in its blocks and mmseg's multi-level output (tokens after `out_indices`, no final norm).

Writes test/fixtures/model/upernet_small.safetensors: two small seeded models (patch 16 with rescales [4, 2, 1,
0.5]; patch 8 with [2, 1, 0.5, 0.25]), their weight manifests (weights regenerated as in vit_fixtures.py), inputs,
logits in eval mode, logits and auxiliary logits in training mode (batch statistics; dropout and drop-path 0), and
gradients of  sum(logits · u(2001)) + sum(aux · u(2002))  in training mode for the input and a few weights.

    /usr/bin/python3 tools/oracles/upernet_fixtures.py
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import FIXTURES, nchw_to_nhwc, save_safetensors
from maskformer_head_fixtures import uniform
from vit_fixtures import Attention, Mlp, PatchEmbed, counter_uniform

OUT = FIXTURES / "model"


class LayerScaleBlock(nn.Module):
    """DINO/timm's pre-norm block with BEiT's per-channel gains on both residual branches."""

    def __init__(self, dim, heads, init_value):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.gamma_1 = nn.Parameter(init_value * torch.ones(dim))
        self.gamma_2 = nn.Parameter(init_value * torch.ones(dim))

    def forward(self, x):
        x = x + self.gamma_1 * self.attn(self.norm1(x))[0]
        return x + self.gamma_2 * self.mlp(self.norm2(x))


class ViTLevels(nn.Module):
    """mmseg's MAE backbone: patch embedding, CLS token, absolute position embedding at the training size, and the
    patch tokens after each of `out_indices` as NCHW maps (final_norm=False)."""

    def __init__(self, img_size, patch, dim, depth, heads, out_indices):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch, 3, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (img_size // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList([LayerScaleBlock(dim, heads, 1.0) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # in the state dict (MAE's weights hold it), unused by the levels
        self.out_indices = out_indices
        self.patch = patch

    def forward(self, images):
        b, _, h, w = images.shape
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.patch_embed(images)], dim=1) + self.pos_embed
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.out_indices:
                outs.append(x[:, 1:].reshape(b, h // self.patch, w // self.patch, -1).permute(0, 3, 1, 2))
        return outs


class ConvModule(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def resize(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Feature2Pyramid(nn.Module):
    def __init__(self, dim, rescales):
        super().__init__()
        self.rescales = rescales
        self.upsample_4x = None
        for k in rescales:
            if k == 4:
                self.upsample_4x = nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2), nn.BatchNorm2d(dim), nn.GELU(),
                                                 nn.ConvTranspose2d(dim, dim, 2, 2))
            elif k == 2:
                self.upsample_2x = nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2))
            elif k == 1:
                self.identity = nn.Identity()
            elif k == 0.5:
                self.downsample_2x = nn.MaxPool2d(2, 2)
            elif k == 0.25:
                self.downsample_4x = nn.MaxPool2d(4, 4)

    def forward(self, inputs):
        if self.upsample_4x is not None:
            ops = [self.upsample_4x, self.upsample_2x, self.identity, self.downsample_2x]
        else:
            ops = [self.upsample_2x, self.identity, self.downsample_2x, self.downsample_4x]
        return [op(x) for op, x in zip(ops, inputs)]


class DecodeHead(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, classes, 1)
        self.dropout = nn.Dropout2d(0.0)

    def cls_seg(self, x):
        return self.conv_seg(self.dropout(x))


class UPerHead(DecodeHead):
    def __init__(self, cin, levels, channels, pool_scales, classes):
        super().__init__(channels, classes)
        self.psp_modules = nn.ModuleList([nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(cin, channels, 1))
                                          for s in pool_scales])
        self.bottleneck = ConvModule(cin + len(pool_scales) * channels, channels, 3)
        self.lateral_convs = nn.ModuleList([ConvModule(cin, channels, 1) for _ in range(levels - 1)])
        self.fpn_convs = nn.ModuleList([ConvModule(channels, channels, 3) for _ in range(levels - 1)])
        self.fpn_bottleneck = ConvModule(levels * channels, channels, 3)

    def psp_forward(self, x):
        outs = [x] + [resize(stage(x), x.shape[2:]) for stage in self.psp_modules]
        return self.bottleneck(torch.cat(outs, dim=1))

    def forward(self, inputs):
        laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
        laterals.append(self.psp_forward(inputs[-1]))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + resize(laterals[i], laterals[i - 1].shape[2:])
        outs = [self.fpn_convs[i](laterals[i]) for i in range(len(laterals) - 1)] + [laterals[-1]]
        for i in range(len(outs) - 1, 0, -1):
            outs[i] = resize(outs[i], outs[0].shape[2:])
        return self.cls_seg(self.fpn_bottleneck(torch.cat(outs, dim=1)))


class FCNHead(DecodeHead):
    def __init__(self, cin, channels, classes):
        super().__init__(channels, classes)
        self.convs = nn.Sequential(ConvModule(cin, channels, 3))

    def forward(self, x):
        return self.cls_seg(self.convs(x))


class UperNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.backbone = ViTLevels(c["img_size"], c["patch"], c["dim"], c["depth"], c["heads"], c["out_indices"])
        self.neck = Feature2Pyramid(c["dim"], c["rescales"])
        self.decode_head = UPerHead(c["dim"], 4, c["channels"], c["pool_scales"], c["classes"])
        self.auxiliary_head = FCNHead(c["dim"], c["aux_channels"], c["classes"])
        self.aux_level = c["aux_level"]

    def forward(self, images):
        levels = self.neck(self.backbone(images))
        return self.decode_head(levels), self.auxiliary_head(levels[self.aux_level])


CASES = {
    "p16": {"img_size": 64, "patch": 16, "dim": 32, "depth": 4, "heads": 2, "out_indices": [0, 1, 2, 3],
            "rescales": [4, 2, 1, 0.5], "channels": 16, "pool_scales": [1, 2, 3, 6], "classes": 5,
            "aux_channels": 8, "aux_level": 2, "batch": 2},
    "p8": {"img_size": 64, "patch": 8, "dim": 24, "depth": 5, "heads": 2, "out_indices": [0, 2, 3, 4],
           "rescales": [2, 1, 0.5, 0.25], "channels": 16, "pool_scales": [1, 2, 3, 6], "classes": 4,
           "aux_channels": 8, "aux_level": 2, "batch": 2},
}


def weight_manifest(model: nn.Module) -> list:
    """[name, shape, offset, scale] per state-dict key (num_batches_tracked left out)."""
    manifest = []
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if name in ("backbone.cls_token", "backbone.pos_embed"):
            offset, scale = 0.0, 0.5
        elif t.dim() >= 2:
            fan_in = t.shape[0] if name.startswith("neck") else t[0].numel()  # a transposed conv's is dim 0
            offset, scale = 0.0, math.sqrt(3 / fan_in)
        elif name.endswith("running_var"):
            offset, scale = 1.0, 0.5
        elif name.endswith("weight") or "gamma" in name:
            offset, scale = 1.0, 0.2
        else:
            offset, scale = 0.0, 0.1
        manifest.append([name, list(t.shape), offset, scale])
    return manifest


def main():
    tensors = {}
    config = {}
    for seed, (name, c) in enumerate(CASES.items(), start=1):
        model = UperNet(c)
        manifest = weight_manifest(model)
        load_weights(model, manifest)
        torch.manual_seed(seed)
        images = torch.randn(c["batch"], 3, c["img_size"], c["img_size"])
        model.eval()
        with torch.no_grad():
            eval_logits, _ = model(images)
        model.train()
        images.requires_grad_(True)
        logits, aux = model(images)
        loss = (nchw_to_nhwc(logits) * uniform(2001, nchw_to_nhwc(logits).shape)).sum() + \
            (nchw_to_nhwc(aux) * uniform(2002, nchw_to_nhwc(aux).shape)).sum()
        params = dict(model.named_parameters())
        wrt = ["backbone.blocks.0.gamma_1", "backbone.pos_embed", "backbone.blocks.1.attn.qkv.weight",
               "decode_head.psp_modules.3.1.conv.weight", "decode_head.lateral_convs.0.bn.weight",
               "decode_head.conv_seg.bias", "auxiliary_head.convs.0.conv.weight",
               "neck.upsample_2x.0.weight"] + (["neck.upsample_4x.1.weight"] if c["rescales"][0] == 4 else [])
        grads = torch.autograd.grad(loss, [images] + [params[n] for n in wrt])
        tensors[f"{name}.input"] = nchw_to_nhwc(images)
        tensors[f"{name}.logits.eval"] = nchw_to_nhwc(eval_logits)
        tensors[f"{name}.logits.train"] = nchw_to_nhwc(logits)
        tensors[f"{name}.aux.train"] = nchw_to_nhwc(aux)
        tensors[f"{name}.grad.input"] = nchw_to_nhwc(grads[0])
        for n, g in zip(wrt, grads[1:]):
            tensors[f"{name}.grad.{n}"] = g
        config[name] = {**c, "weights": manifest, "gradients": wrt}
        print(f"{name}: logits {tuple(logits.shape)}, aux {tuple(aux.shape)}, "
              f"{sum(p.numel() for p in model.parameters())} parameters")
    tensors["generator_check"] = counter_uniform(1, 8)
    path = OUT / "upernet_small.safetensors"
    save_safetensors(path, tensors, {"config": config})
    print(f"{path.relative_to(FIXTURES.parents[1])}: {path.stat().st_size / 1e3:.0f} kB")


def load_weights(model: nn.Module, manifest: list) -> None:
    """vit_fixtures.load_manifest for the listed keys; the unlisted buffers (num_batches_tracked) stay as they are."""
    state = dict(model.state_dict())
    for seed, (name, shape, offset, scale) in enumerate(manifest, start=1):
        values = (offset + scale * counter_uniform(seed, math.prod(shape))).astype(np.float32)
        state[name] = torch.from_numpy(values.reshape(shape))
    model.load_state_dict(state)


if __name__ == "__main__":
    main()
