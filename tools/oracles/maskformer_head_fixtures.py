"""PyTorch references for src/model/pixel-decoder.ts and src/model/transformer-decoder.ts: MaskFormer's head
(BasePixelDecoder + TransformerPredictor), copied below from facebookresearch/MaskFormer, with S-Seg's change:
no class head, a per-query `semantic_embed` Linear in its place.

Writes two files:
  test/fixtures/model/maskformer_head.safetensors  a small seeded head in eval mode: its weight manifest (the
                                                   weights themselves are regenerated, as in vit_fixtures.py),
                                                   the backbone features res2..res5 (NHWC), the mask features
                                                   (NHWC), every layer's mask logits [L, B, Q, H/4, W/4] and
                                                   semantic query embeddings [L, B, Q, D], and gradients of two
                                                   fixed scalars (below).
  test/fixtures/model/maskformer_head_presets.json the paper and small-CPU configurations: parameter counts,
                                                   every state-dict key with its shape, output shapes at 448².

The two scalars use cotangents from counter_uniform (reproduced by test/support/fixtures.ts), laid out as the
TypeScript tensors are (channels-last mask features), so they are not stored:
  pixel = sum(mask_features_nhwc · u(1001))                          → grad.pixel.*  (inputs, some weights)
  head  = sum(masks · u(1002)) + sum(semantic embeddings · u(1003))  → grad.head.*   (res5 and a few weights)

    /usr/bin/python3 tools/oracles/maskformer_head_fixtures.py
"""
import copy
import json
import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common import FIXTURES, nchw_to_nhwc, save_safetensors
from vit_fixtures import counter_uniform, load_manifest

OUT = FIXTURES / "model"

# ---------------------------------------------------------------------------------------------------------------
# detectron2 (Copyright (c) Facebook, Inc. and its affiliates, Apache-2.0): the two pieces the head needs, in
# their smallest form with the same state-dict names. layers/wrappers.py Conv2d: a torch Conv2d holding an
# optional `norm` module (keys `weight`, `bias`, `norm.weight`, `norm.bias`) and an activation; get_norm("GN", c)
# is nn.GroupNorm(32, c) (a group count is a parameter here so tiny widths work). fvcore's c2_xavier_fill.


class Conv2d(nn.Conv2d):
    def __init__(self, *args, **kwargs):
        norm = kwargs.pop("norm", None)
        activation = kwargs.pop("activation", None)
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x):
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def c2_xavier_fill(module: nn.Module) -> None:
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


# ---------------------------------------------------------------------------------------------------------------
# From facebookresearch/MaskFormer (Copyright (c) Facebook, Inc. and its affiliates, Apache-2.0), itself modified
# from facebookresearch/detr: mask_former/modeling/heads/pixel_decoder.py (BasePixelDecoder),
# transformer/position_encoding.py, transformer/transformer.py, transformer/transformer_predictor.py. Unchanged
# except: no detectron2 config plumbing (input_shape is {name: (channels, stride)}, norm is a group count);
# post-norm only (MaskFormer's PRE_NORM is False) and no attention masks (MaskFormer passes none); no encoder
# (ENC_LAYERS = 0: the encoder is an empty loop with no norm, so memory is the projected input); the predictor
# always returns every layer (DEEP_SUPERVISION = True) and its class_embed is replaced by semantic_embed.


class BasePixelDecoder(nn.Module):
    def __init__(self, input_shape, *, conv_dim: int, mask_dim: int, norm_groups: int):
        super().__init__()

        input_shape = sorted(input_shape.items(), key=lambda x: x[1][1])
        self.in_features = [k for k, v in input_shape]  # starting from "res2" to "res5"
        feature_channels = [v[0] for k, v in input_shape]

        lateral_convs = []
        output_convs = []

        use_bias = False  # norm == "GN"
        for idx, in_channels in enumerate(feature_channels):
            if idx == len(self.in_features) - 1:
                output_norm = nn.GroupNorm(norm_groups, conv_dim)
                output_conv = Conv2d(
                    in_channels, conv_dim, kernel_size=3, stride=1, padding=1, bias=use_bias,
                    norm=output_norm, activation=F.relu,
                )
                c2_xavier_fill(output_conv)
                self.add_module("layer_{}".format(idx + 1), output_conv)

                lateral_convs.append(None)
                output_convs.append(output_conv)
            else:
                lateral_norm = nn.GroupNorm(norm_groups, conv_dim)
                output_norm = nn.GroupNorm(norm_groups, conv_dim)

                lateral_conv = Conv2d(in_channels, conv_dim, kernel_size=1, bias=use_bias, norm=lateral_norm)
                output_conv = Conv2d(
                    conv_dim, conv_dim, kernel_size=3, stride=1, padding=1, bias=use_bias,
                    norm=output_norm, activation=F.relu,
                )
                c2_xavier_fill(lateral_conv)
                c2_xavier_fill(output_conv)
                self.add_module("adapter_{}".format(idx + 1), lateral_conv)
                self.add_module("layer_{}".format(idx + 1), output_conv)

                lateral_convs.append(lateral_conv)
                output_convs.append(output_conv)
        # Place convs into top-down order (from low to high resolution)
        # to make the top-down computation in forward clearer.
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]

        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=3, stride=1, padding=1)
        c2_xavier_fill(self.mask_features)

    def forward_features(self, features):
        # Reverse feature maps into top-down order (from low to high resolution)
        for idx, f in enumerate(self.in_features[::-1]):
            x = features[f]
            lateral_conv = self.lateral_convs[idx]
            output_conv = self.output_convs[idx]
            if lateral_conv is None:
                y = output_conv(x)
            else:
                cur_fpn = lateral_conv(x)
                # Following FPN implementation, we use nearest upsampling here
                y = cur_fpn + F.interpolate(y, size=cur_fpn.shape[-2:], mode="nearest")
                y = output_conv(y)
        return self.mask_features(y), None


class PositionEmbeddingSine(nn.Module):
    def __init__(self, num_pos_feats=64, temperature=10000, normalize=False, scale=None):
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        if scale is not None and normalize is False:
            raise ValueError("normalize should be True if scale is passed")
        if scale is None:
            scale = 2 * math.pi
        self.scale = scale

    def forward(self, x, mask=None):
        if mask is None:
            mask = torch.zeros((x.size(0), x.size(2), x.size(3)), device=x.device, dtype=torch.bool)
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale

        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)

        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        return pos


class Transformer(nn.Module):
    def __init__(self, d_model=512, nhead=8, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1,
                 activation="relu", return_intermediate_dec=False):
        super().__init__()

        decoder_layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation)
        decoder_norm = nn.LayerNorm(d_model)
        self.decoder = TransformerDecoder(
            decoder_layer, num_decoder_layers, decoder_norm, return_intermediate=return_intermediate_dec,
        )

        self._reset_parameters()

        self.d_model = d_model
        self.nhead = nhead

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src, mask, query_embed, pos_embed):
        # flatten NxCxHxW to HWxNxC
        bs, c, h, w = src.shape
        src = src.flatten(2).permute(2, 0, 1)
        pos_embed = pos_embed.flatten(2).permute(2, 0, 1)
        query_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)

        tgt = torch.zeros_like(query_embed)
        memory = src  # the encoder has 0 layers and no norm
        hs = self.decoder(tgt, memory, memory_key_padding_mask=mask, pos=pos_embed, query_pos=query_embed)
        return hs.transpose(1, 2), memory.permute(1, 2, 0).view(bs, c, h, w)


class TransformerDecoder(nn.Module):
    def __init__(self, decoder_layer, num_layers, norm=None, return_intermediate=False):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.return_intermediate = return_intermediate

    def forward(self, tgt, memory, memory_key_padding_mask: Optional[Tensor] = None,
                pos: Optional[Tensor] = None, query_pos: Optional[Tensor] = None):
        output = tgt

        intermediate = []

        for layer in self.layers:
            output = layer(output, memory, memory_key_padding_mask=memory_key_padding_mask, pos=pos,
                           query_pos=query_pos)
            if self.return_intermediate:
                intermediate.append(self.norm(output))

        if self.norm is not None:
            output = self.norm(output)
            if self.return_intermediate:
                intermediate.pop()
                intermediate.append(output)

        if self.return_intermediate:
            return torch.stack(intermediate)

        return output.unsqueeze(0)


class TransformerDecoderLayer(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu"):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        # Implementation of Feedforward model
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)

        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

        self.activation = F.relu

    def with_pos_embed(self, tensor, pos: Optional[Tensor]):
        return tensor if pos is None else tensor + pos

    def forward(self, tgt, memory, memory_key_padding_mask: Optional[Tensor] = None,
                pos: Optional[Tensor] = None, query_pos: Optional[Tensor] = None):
        q = k = self.with_pos_embed(tgt, query_pos)
        tgt2 = self.self_attn(q, k, value=tgt)[0]
        tgt = tgt + self.dropout1(tgt2)
        tgt = self.norm1(tgt)
        tgt2 = self.multihead_attn(
            query=self.with_pos_embed(tgt, query_pos),
            key=self.with_pos_embed(memory, pos),
            value=memory,
            key_padding_mask=memory_key_padding_mask,
        )[0]
        tgt = tgt + self.dropout2(tgt2)
        tgt = self.norm2(tgt)
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt))))
        tgt = tgt + self.dropout3(tgt2)
        tgt = self.norm3(tgt)
        return tgt


def _get_clones(module, N):
    return nn.ModuleList([copy.deepcopy(module) for i in range(N)])


class TransformerPredictor(nn.Module):
    def __init__(self, in_channels, *, hidden_dim: int, num_queries: int, nheads: int, dropout: float,
                 dim_feedforward: int, dec_layers: int, mask_dim: int, embed_dim: int,
                 enforce_input_project: bool = False):
        super().__init__()

        # positional encoding
        N_steps = hidden_dim // 2
        self.pe_layer = PositionEmbeddingSine(N_steps, normalize=True)

        transformer = Transformer(
            d_model=hidden_dim, dropout=dropout, nhead=nheads, dim_feedforward=dim_feedforward,
            num_decoder_layers=dec_layers, return_intermediate_dec=True,
        )

        self.num_queries = num_queries
        self.transformer = transformer
        hidden_dim = transformer.d_model

        self.query_embed = nn.Embedding(num_queries, hidden_dim)

        if in_channels != hidden_dim or enforce_input_project:
            self.input_proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
            c2_xavier_fill(self.input_proj)
        else:
            self.input_proj = nn.Sequential()

        # output FFNs (S-Seg: a semantic embedding per query where MaskFormer has class_embed)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)
        self.semantic_embed = nn.Linear(hidden_dim, embed_dim)

    def forward(self, x, mask_features):
        pos = self.pe_layer(x)

        src = x
        mask = None
        hs, memory = self.transformer(self.input_proj(src), mask, self.query_embed.weight, pos)

        # [l, bs, queries, embed]
        mask_embed = self.mask_embed(hs)
        outputs_seg_masks = torch.einsum("lbqc,bchw->lbqhw", mask_embed, mask_features)
        return outputs_seg_masks, self.semantic_embed(hs)


class MLP(nn.Module):
    """Very simple multi-layer perceptron (also called FFN)"""

    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x

# End of the MaskFormer code.
# ---------------------------------------------------------------------------------------------------------------


class Head(nn.Module):
    """MaskFormerHead's state-dict layout (`pixel_decoder.*`, `predictor.*`) with the predictor fed res5
    (TRANSFORMER_IN_FEATURE = "res5", MaskFormer's default)."""

    def __init__(self, cfg):
        super().__init__()
        strides = (4, 8, 16, 32)
        shapes = {f"res{i + 2}": (c, s) for i, (c, s) in enumerate(zip(cfg["backbone_channels"], strides))}
        self.pixel_decoder = BasePixelDecoder(shapes, conv_dim=cfg["conv_dim"], mask_dim=cfg["mask_dim"],
                                              norm_groups=cfg["norm_groups"])
        self.predictor = TransformerPredictor(
            cfg["backbone_channels"][-1], hidden_dim=cfg["hidden_dim"], num_queries=cfg["num_queries"],
            nheads=cfg["nheads"], dropout=0.1, dim_feedforward=cfg["dim_feedforward"],
            dec_layers=cfg["dec_layers"], mask_dim=cfg["mask_dim"], embed_dim=cfg["embed_dim"])

    def forward(self, features):
        mask_features, _ = self.pixel_decoder.forward_features(features)
        masks, embeddings = self.predictor(features["res5"], mask_features)
        return mask_features, masks, embeddings


# The fixture's head: backbone widths 8/16/24/40 (res5 ≠ hidden, so input_proj exists), 4 groups of 4 channels.
SMALL = {"backbone_channels": [8, 16, 24, 40], "conv_dim": 16, "mask_dim": 16, "norm_groups": 4,
         "hidden_dim": 32, "nheads": 4, "dim_feedforward": 64, "dec_layers": 3, "num_queries": 5, "embed_dim": 24}
# MaskFormer on Swin-S with S-Seg's 64 queries; and the small CPU configuration of src/model/*.ts.
PRESETS = {
    "paper": {"backbone_channels": [96, 192, 384, 768], "conv_dim": 256, "mask_dim": 256, "norm_groups": 32,
              "hidden_dim": 256, "nheads": 8, "dim_feedforward": 2048, "dec_layers": 6, "num_queries": 64,
              "embed_dim": 256},
    "small": {"backbone_channels": [96, 192, 384, 768], "conv_dim": 128, "mask_dim": 128, "norm_groups": 32,
              "hidden_dim": 128, "nheads": 4, "dim_feedforward": 512, "dec_layers": 6, "num_queries": 32,
              "embed_dim": 128},
}


def weight_manifest(model: nn.Module) -> list:
    """[name, shape, offset, scale] per state-dict key: matrices and kernels with variance 1/fan_in, norm gains
    near 1, small biases, unit-scale query embeddings."""
    manifest = []
    for name, t in model.state_dict().items():
        if name.endswith("query_embed.weight"):
            offset, scale = 0.0, 1.0
        elif t.dim() >= 2:
            offset, scale = 0.0, math.sqrt(3 / t[0].numel())
        elif name.endswith("weight"):
            offset, scale = 1.0, 0.2
        else:
            offset, scale = 0.0, 0.1
        manifest.append([name, list(t.shape), offset, scale])
    return manifest


def uniform(seed: int, shape) -> torch.Tensor:
    return torch.from_numpy(counter_uniform(seed, math.prod(shape)).astype(np.float32).reshape(shape))


def features_for(cfg, batch: int, height: int, width: int) -> dict:
    return {f"res{i + 2}": torch.randn(batch, c, height // s, width // s)
            for i, (c, s) in enumerate(zip(cfg["backbone_channels"], (4, 8, 16, 32)))}


def write_small_fixture():
    torch.manual_seed(0)
    head = Head(SMALL).eval()
    manifest = weight_manifest(head)
    load_manifest(head, manifest)
    batch, height, width = 2, 64, 96
    features = {k: v.requires_grad_(True) for k, v in features_for(SMALL, batch, height, width).items()}
    mask_features, masks, embeddings = head(features)
    print(f"mask features {tuple(mask_features.shape)}, masks {tuple(masks.shape)}, "
          f"embeddings {tuple(embeddings.shape)}")

    tensors = {f"input.{k}": nchw_to_nhwc(v) for k, v in features.items()}
    tensors["mask_features"] = nchw_to_nhwc(mask_features)
    tensors["masks"] = masks
    tensors["embeddings"] = embeddings

    params = dict(head.named_parameters())
    pixel_loss = (nchw_to_nhwc(mask_features) * uniform(1001, nchw_to_nhwc(mask_features).shape)).sum()
    pixel_params = ["adapter_1.weight", "adapter_3.norm.weight", "layer_1.norm.weight", "layer_1.norm.bias",
                    "layer_4.weight", "layer_4.norm.weight", "mask_features.bias"]
    pixel_wrt = [features[k] for k in features] + [params[f"pixel_decoder.{n}"] for n in pixel_params]
    grads = torch.autograd.grad(pixel_loss, pixel_wrt, retain_graph=True)
    for k, g in zip(features, grads[:4]):
        tensors[f"grad.pixel.input.{k}"] = nchw_to_nhwc(g)
    for n, g in zip(pixel_params, grads[4:]):
        tensors[f"grad.pixel.state.{n}"] = g

    head_loss = (masks * uniform(1002, masks.shape)).sum() + (embeddings * uniform(1003, embeddings.shape)).sum()
    head_params = ["pixel_decoder.layer_4.norm.weight", "predictor.transformer.decoder.layers.1.self_attn.in_proj_weight",
                   "predictor.transformer.decoder.layers.2.multihead_attn.in_proj_weight",
                   "predictor.transformer.decoder.norm.weight", "predictor.query_embed.weight",
                   "predictor.input_proj.weight", "predictor.mask_embed.layers.0.weight",
                   "predictor.semantic_embed.bias"]
    grads = torch.autograd.grad(head_loss, [features["res5"]] + [params[n] for n in head_params])
    tensors["grad.head.input.res5"] = nchw_to_nhwc(grads[0])
    for n, g in zip(head_params, grads[1:]):
        tensors[f"grad.head.state.{n}"] = g

    config = {**SMALL, "batch": batch, "height": height, "width": width, "weights": manifest}
    path = OUT / "maskformer_head.safetensors"
    save_safetensors(path, tensors, {"config": config})
    print(f"{path.relative_to(FIXTURES.parents[1])}: {path.stat().st_size / 1e3:.0f} kB")


@torch.no_grad()
def write_presets():
    out = {}
    for name, cfg in PRESETS.items():
        torch.manual_seed(0)
        head = Head(cfg).eval()
        mask_features, masks, embeddings = head(features_for(cfg, 1, 448, 448))
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        out[name] = {
            "config": cfg,
            "parameters": {"pixel_decoder": count(head.pixel_decoder), "predictor": count(head.predictor),
                           "semantic_embed": count(head.predictor.semantic_embed)},
            "448": {"mask_features": list(nchw_to_nhwc(mask_features).shape), "masks": list(masks.shape),
                    "embeddings": list(embeddings.shape)},
            "keys": [[k, list(v.shape)] for k, v in head.state_dict().items()],
        }
        print(f"{name}: {out[name]['parameters']}, {out[name]['448']}")
    path = OUT / "maskformer_head_presets.json"
    lines = [f'  {json.dumps(name)}: {{\n' + ",\n".join(
        f'    {json.dumps(k)}: ' + ("[\n" + ",\n".join(f"      {json.dumps(key)}" for key in v) + "\n    ]"
                                   if k == "keys" else json.dumps(v)) for k, v in entry.items()) + "\n  }"
        for name, entry in out.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    write_small_fixture()
    write_presets()
