"""PyTorch references for src/model/pixel-decoder.ts and src/model/transformer-decoder.ts: MaskFormer's head
(its per-pixel FPN decoder and transformer predictor) with S-Seg's change: no class head, a per-query
`semantic_embed` Linear in its place.

Licensing. No MaskFormer code is copied: MaskFormer's own code is CC BY-NC 4.0 (its README), so the pixel
decoder, the predictor and the encoder-less transformer wrapper below are re-expressed from MaskFormer's design
(CC BY-NC 4.0, not copied), with the same modules, state-dict names and order of operations. The conv-with-norm
module and its initialisation are likewise written here after the behaviour of detectron2's Conv2d and fvcore's
c2_xavier_fill (both Apache-2.0). The only copied code is DETR's (facebookresearch/detr, Apache-2.0), verbatim and
attributed where it appears.

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
from collections import namedtuple
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common import FIXTURES, nchw_to_nhwc, save_safetensors
from vit_fixtures import counter_uniform, load_manifest

OUT = FIXTURES / "model"

# ---------------------------------------------------------------------------------------------------------------
# Building blocks with detectron2's state-dict layout, written here (not copied): ConvNormAct behaves as
# detectron2's layers/wrappers.py Conv2d (a torch Conv2d owning an optional `norm` module, so its keys are
# `weight`, `bias`, `norm.weight`, `norm.bias`, followed by an optional activation), and caffe2_xavier_ as fvcore's
# c2_xavier_fill. detectron2's get_norm("GN", c) is nn.GroupNorm(32, c); the group count is a parameter here so
# tiny widths work. A tuple (tensors, mask) stands in for DETR's NestedTensor, the input of its position encoding.

NestedTensor = namedtuple("NestedTensor", ["tensors", "mask"])


class ConvNormAct(nn.Conv2d):
    """A 2-D convolution, then `norm` (a module or None), then `act` (a function or None)."""

    def __init__(self, in_channels, out_channels, kernel_size, *, padding=0, bias=True, norm=None, act=None):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self.norm = norm
        self.act = act

    def forward(self, x):
        out = super().forward(x)
        if self.norm is not None:
            out = self.norm(out)
        return out if self.act is None else self.act(out)


def caffe2_xavier_(conv: nn.Conv2d) -> None:
    """Caffe2's "XavierFill" is PyTorch's kaiming-uniform with a = 1 (bound √(3 / fan_in)); biases start at 0."""
    nn.init.kaiming_uniform_(conv.weight, a=1)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


# ---------------------------------------------------------------------------------------------------------------
# Copied verbatim from facebookresearch/detr (Copyright (c) Facebook, Inc. and its affiliates. All Rights
# Reserved; Apache License 2.0), commit 29901c5: models/position_encoding.py PositionEmbeddingSine;
# models/transformer.py TransformerDecoder, TransformerDecoderLayer, _get_clones, _get_activation_fn; models/detr.py
# MLP. (MaskFormer reuses these with formatting changes only; here they are taken from DETR itself.)


class PositionEmbeddingSine(nn.Module):
    """
    This is a more standard version of the position embedding, very similar to the one
    used by the Attention is all you need paper, generalized to work on images.
    """
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

    def forward(self, tensor_list: NestedTensor):
        x = tensor_list.tensors
        mask = tensor_list.mask
        assert mask is not None
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


class TransformerDecoder(nn.Module):

    def __init__(self, decoder_layer, num_layers, norm=None, return_intermediate=False):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.return_intermediate = return_intermediate

    def forward(self, tgt, memory,
                tgt_mask: Optional[Tensor] = None,
                memory_mask: Optional[Tensor] = None,
                tgt_key_padding_mask: Optional[Tensor] = None,
                memory_key_padding_mask: Optional[Tensor] = None,
                pos: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None):
        output = tgt

        intermediate = []

        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask,
                           memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask,
                           pos=pos, query_pos=query_pos)
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

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1,
                 activation="relu", normalize_before=False):
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

        self.activation = _get_activation_fn(activation)
        self.normalize_before = normalize_before

    def with_pos_embed(self, tensor, pos: Optional[Tensor]):
        return tensor if pos is None else tensor + pos

    def forward_post(self, tgt, memory,
                     tgt_mask: Optional[Tensor] = None,
                     memory_mask: Optional[Tensor] = None,
                     tgt_key_padding_mask: Optional[Tensor] = None,
                     memory_key_padding_mask: Optional[Tensor] = None,
                     pos: Optional[Tensor] = None,
                     query_pos: Optional[Tensor] = None):
        q = k = self.with_pos_embed(tgt, query_pos)
        tgt2 = self.self_attn(q, k, value=tgt, attn_mask=tgt_mask,
                              key_padding_mask=tgt_key_padding_mask)[0]
        tgt = tgt + self.dropout1(tgt2)
        tgt = self.norm1(tgt)
        tgt2 = self.multihead_attn(query=self.with_pos_embed(tgt, query_pos),
                                   key=self.with_pos_embed(memory, pos),
                                   value=memory, attn_mask=memory_mask,
                                   key_padding_mask=memory_key_padding_mask)[0]
        tgt = tgt + self.dropout2(tgt2)
        tgt = self.norm2(tgt)
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt))))
        tgt = tgt + self.dropout3(tgt2)
        tgt = self.norm3(tgt)
        return tgt

    def forward_pre(self, tgt, memory,
                    tgt_mask: Optional[Tensor] = None,
                    memory_mask: Optional[Tensor] = None,
                    tgt_key_padding_mask: Optional[Tensor] = None,
                    memory_key_padding_mask: Optional[Tensor] = None,
                    pos: Optional[Tensor] = None,
                    query_pos: Optional[Tensor] = None):
        tgt2 = self.norm1(tgt)
        q = k = self.with_pos_embed(tgt2, query_pos)
        tgt2 = self.self_attn(q, k, value=tgt2, attn_mask=tgt_mask,
                              key_padding_mask=tgt_key_padding_mask)[0]
        tgt = tgt + self.dropout1(tgt2)
        tgt2 = self.norm2(tgt)
        tgt2 = self.multihead_attn(query=self.with_pos_embed(tgt2, query_pos),
                                   key=self.with_pos_embed(memory, pos),
                                   value=memory, attn_mask=memory_mask,
                                   key_padding_mask=memory_key_padding_mask)[0]
        tgt = tgt + self.dropout2(tgt2)
        tgt2 = self.norm3(tgt)
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(tgt2))))
        tgt = tgt + self.dropout3(tgt2)
        return tgt

    def forward(self, tgt, memory,
                tgt_mask: Optional[Tensor] = None,
                memory_mask: Optional[Tensor] = None,
                tgt_key_padding_mask: Optional[Tensor] = None,
                memory_key_padding_mask: Optional[Tensor] = None,
                pos: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None):
        if self.normalize_before:
            return self.forward_pre(tgt, memory, tgt_mask, memory_mask,
                                    tgt_key_padding_mask, memory_key_padding_mask, pos, query_pos)
        return self.forward_post(tgt, memory, tgt_mask, memory_mask,
                                 tgt_key_padding_mask, memory_key_padding_mask, pos, query_pos)


def _get_clones(module, N):
    return nn.ModuleList([copy.deepcopy(module) for i in range(N)])


def _get_activation_fn(activation):
    """Return an activation function given a string"""
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if activation == "glu":
        return F.glu
    raise RuntimeError(F"activation should be relu/gelu, not {activation}.")


class MLP(nn.Module):
    """ Very simple multi-layer perceptron (also called FFN)"""

    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x

# End of the DETR code.
# ---------------------------------------------------------------------------------------------------------------
# MaskFormer's head, re-expressed from MaskFormer's design (CC BY-NC 4.0, not copied): written from the
# architecture in the MaskFormer paper and the checkpoint layout (state-dict names), with MaskFormer's settings:
# GroupNorm convs, post-norm decoder layers, no encoder layers (ENC_LAYERS = 0, so the memory is the projected
# res5), every decoder layer's output returned (DEEP_SUPERVISION), no attention masks. The modules are created,
# initialised and applied in the same order as in MaskFormer, so seeded weights and all results are the same.


class PixelDecoder(nn.Module):
    """An FPN without extra levels. Inputs {name: (channels, stride)}, finest first once sorted by stride: level
    k = 1…n. The coarsest level n has only a 3×3 conv `layer_n`; every finer level k has a 1×1 lateral conv
    `adapter_k` and a 3×3 conv `layer_k` (both conv → GroupNorm, the 3×3 ones then ReLU) and merges the coarser
    result by nearest upsampling and addition. A 3×3 conv with bias, `mask_features`, maps level 1 to the
    mask-feature width."""

    def __init__(self, input_shape, *, conv_dim: int, mask_dim: int, norm_groups: int):
        super().__init__()
        levels = sorted(input_shape.items(), key=lambda item: item[1][1])
        self.in_features = [name for name, _ in levels]  # res2 … res5
        for level, (_, (channels, _stride)) in enumerate(levels, start=1):
            if level < len(levels):
                # both GroupNorms exist before either conv; convs are created, then both filled (RNG order)
                lateral_gn, smooth_gn = nn.GroupNorm(norm_groups, conv_dim), nn.GroupNorm(norm_groups, conv_dim)
                lateral = ConvNormAct(channels, conv_dim, 1, bias=False, norm=lateral_gn)
                smooth = ConvNormAct(conv_dim, conv_dim, 3, padding=1, bias=False, norm=smooth_gn, act=F.relu)
                caffe2_xavier_(lateral)
                caffe2_xavier_(smooth)
                self.add_module(f"adapter_{level}", lateral)
            else:
                smooth = ConvNormAct(channels, conv_dim, 3, padding=1, bias=False,
                                     norm=nn.GroupNorm(norm_groups, conv_dim), act=F.relu)
                caffe2_xavier_(smooth)
            self.add_module(f"layer_{level}", smooth)
        self.mask_features = ConvNormAct(conv_dim, mask_dim, 3, padding=1)
        caffe2_xavier_(self.mask_features)

    def forward(self, features):
        """{name: [B, C, H, W]} → mask features [B, mask_dim, H/4, W/4]."""
        n = len(self.in_features)
        y = getattr(self, f"layer_{n}")(features[self.in_features[n - 1]])
        for level in range(n - 1, 0, -1):  # coarse to fine
            skip = getattr(self, f"adapter_{level}")(features[self.in_features[level - 1]])
            y = getattr(self, f"layer_{level}")(skip + F.interpolate(y, size=skip.shape[-2:], mode="nearest"))
        return self.mask_features(y)


class DecoderOnlyTransformer(nn.Module):
    """DETR's decoder (post-norm, shared final LayerNorm on every layer's output) without an encoder: the memory
    is the input map itself. Xavier-uniform init of every matrix, as DETR's Transformer does."""

    def __init__(self, d_model: int, nhead: int, num_layers: int, dim_feedforward: int, dropout: float):
        super().__init__()
        layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, "relu", False)
        self.decoder = TransformerDecoder(layer, num_layers, nn.LayerNorm(d_model), return_intermediate=True)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src, pos, queries):
        """src, pos [B, C, H, W]; queries [Q, C] → every layer's query states [L, B, Q, C]."""
        batch = src.shape[0]
        memory = src.flatten(2).permute(2, 0, 1)  # sequence-first [H·W, B, C]
        memory_pos = pos.flatten(2).permute(2, 0, 1)
        query_pos = queries.unsqueeze(1).repeat(1, batch, 1)  # [Q, B, C]
        states = self.decoder(torch.zeros_like(query_pos), memory, pos=memory_pos, query_pos=query_pos)
        return states.transpose(1, 2)


class Predictor(nn.Module):
    """Learned queries read res5 (projected to hidden_dim by a 1×1 conv when the widths differ, with the sine
    position encoding of its grid as keys' positions); each layer's query states give mask embeddings (a 3-layer
    MLP) dotted with the mask features, and S-Seg's semantic embeddings (one Linear)."""

    def __init__(self, in_channels, *, hidden_dim: int, num_queries: int, nheads: int, dropout: float,
                 dim_feedforward: int, dec_layers: int, mask_dim: int, embed_dim: int):
        super().__init__()
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.transformer = DecoderOnlyTransformer(hidden_dim, nheads, dec_layers, dim_feedforward, dropout)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        if in_channels == hidden_dim:
            self.input_proj = nn.Identity()
        else:
            self.input_proj = ConvNormAct(in_channels, hidden_dim, 1)
            caffe2_xavier_(self.input_proj)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)
        self.semantic_embed = nn.Linear(hidden_dim, embed_dim)

    def forward(self, res5, mask_features):
        """→ mask logits [L, B, Q, H/4, W/4] and semantic embeddings [L, B, Q, embed_dim]."""
        no_padding = torch.zeros((res5.shape[0], res5.shape[2], res5.shape[3]), dtype=torch.bool, device=res5.device)
        pos = self.pe_layer(NestedTensor(res5, no_padding))
        states = self.transformer(self.input_proj(res5), pos, self.query_embed.weight)
        masks = torch.einsum("lbqc,bchw->lbqhw", self.mask_embed(states), mask_features)
        return masks, self.semantic_embed(states)

# End of the re-expressed MaskFormer head.
# ---------------------------------------------------------------------------------------------------------------


class Head(nn.Module):
    """MaskFormerHead's state-dict layout (`pixel_decoder.*`, `predictor.*`) with the predictor fed res5
    (TRANSFORMER_IN_FEATURE = "res5", MaskFormer's default)."""

    def __init__(self, cfg):
        super().__init__()
        strides = (4, 8, 16, 32)
        shapes = {f"res{i + 2}": (c, s) for i, (c, s) in enumerate(zip(cfg["backbone_channels"], strides))}
        self.pixel_decoder = PixelDecoder(shapes, conv_dim=cfg["conv_dim"], mask_dim=cfg["mask_dim"],
                                          norm_groups=cfg["norm_groups"])
        self.predictor = Predictor(
            cfg["backbone_channels"][-1], hidden_dim=cfg["hidden_dim"], num_queries=cfg["num_queries"],
            nheads=cfg["nheads"], dropout=0.1, dim_feedforward=cfg["dim_feedforward"],
            dec_layers=cfg["dec_layers"], mask_dim=cfg["mask_dim"], embed_dim=cfg["embed_dim"])

    def forward(self, features):
        mask_features = self.pixel_decoder(features)
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
