"""PyTorch references for the building-block layers in src/nn/: forward outputs and gradients.

For each case: seeded inputs and weights, output = f(inputs), loss = sum(output * cotangent) with a random
cotangent, and the gradients of the loss w.r.t. every input and parameter. Image tensors are stored
channels-last (NHWC) because the TypeScript layers are channels-last; parameters keep PyTorch's layout.

    /usr/bin/python3 tools/oracles/nn_fixtures.py      # writes test/fixtures/nn/*.safetensors
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import FIXTURES, nchw_to_nhwc, randomize, save_safetensors

OUT = FIXTURES / "nn"
torch.manual_seed(0)


def write_case(name, inputs, forward, module=None, config=None, image_keys=(), image_output=False, extra=None):
    """inputs: name → tensor (float ones get gradients). image_keys/image_output: stored NHWC."""
    module = module if module is not None else nn.Module()
    state = {k: v.detach().clone() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    for t in inputs.values():
        if t.is_floating_point():
            t.requires_grad_(True)
    out = forward(module, **inputs)
    cot = torch.randn_like(out)
    diff = [t for t in inputs.values() if t.is_floating_point()]
    params = dict(module.named_parameters())
    grads = torch.autograd.grad((out * cot).sum(), diff + list(params.values()), allow_unused=True)
    tensors = {}

    def put(key, t, image):
        tensors[key] = nchw_to_nhwc(t) if image else t

    for k, t in inputs.items():
        put(f"input.{k}", t.float(), k in image_keys)
    for k, t in state.items():
        tensors[f"state.{k}"] = t
    put("output", out, image_output)
    put("cotangent", cot, image_output)
    names = [k for k, t in inputs.items() if t.is_floating_point()] + [f"state.{k}" for k in params]
    for k, g in zip(names, grads):
        if g is None:
            continue
        image = k in image_keys
        put(f"grad.{k}" if k.startswith("state.") else f"grad.input.{k}", g, image)
    for k, t in (extra or {}).items():
        tensors[k] = t
    save_safetensors(OUT / f"{name}.safetensors", tensors, {"config": config or {}})
    print(f"{name}: output {tuple(out.shape)}")


def main():
    # Linear, with and without bias, on a rank-3 input.
    write_case("linear", {"x": torch.randn(2, 3, 7)}, lambda m, x: m(x), randomize(nn.Linear(7, 5)),
               {"in": 7, "out": 5, "bias": True})
    write_case("linear_nobias", {"x": torch.randn(4, 6)}, lambda m, x: m(x), randomize(nn.Linear(6, 3, bias=False)),
               {"in": 6, "out": 3, "bias": False})

    write_case("layer_norm", {"x": torch.randn(2, 4, 6) * 3 + 1}, lambda m, x: m(x),
               randomize(nn.LayerNorm(6, eps=1e-6)), {"dim": 6, "eps": 1e-6})

    write_case("group_norm", {"x": torch.randn(2, 8, 5, 3) * 2 - 1}, lambda m, x: m(x),
               randomize(nn.GroupNorm(2, 8)), {"groups": 2, "channels": 8, "eps": 1e-5},
               image_keys=("x",), image_output=True)

    # BatchNorm: training (batch statistics + running-stat update) and eval (running statistics).
    def batch_norm_case(name, bn, x):
        after = {}

        def fwd(m, x):
            y = m(x)
            after["after.running_mean"] = m.running_mean.detach().clone()
            after["after.running_var"] = m.running_var.detach().clone()
            return y

        image = x.dim() == 4
        write_case(name, {"x": x}, fwd, bn, {"channels": bn.num_features, "training": bn.training},
                   image_keys=("x",) if image else (), image_output=image, extra=after)

    for mode in ("train", "eval"):
        batch_norm_case(f"batch_norm2d_{mode}", randomize(nn.BatchNorm2d(4)).train(mode == "train"),
                        torch.randn(3, 4, 5, 5) * 2 + 0.5)
    batch_norm_case("batch_norm1d_train", randomize(nn.BatchNorm1d(5)).train(), torch.randn(6, 5))

    # Conv2d: 3×3 stride 1 and 2, 1×1, and a 4×4/4 patch embedding; odd, non-square maps.
    for name, (cin, cout, k, s, p, h, w) in {
        "conv2d_3x3": (3, 4, 3, 1, 1, 7, 6),
        "conv2d_3x3_s2": (3, 5, 3, 2, 1, 9, 8),
        "conv2d_1x1": (6, 4, 1, 1, 0, 5, 4),
        "conv2d_patch4": (3, 6, 4, 4, 0, 8, 12),
    }.items():
        write_case(name, {"x": torch.randn(2, cin, h, w)}, lambda m, x: m(x),
                   randomize(nn.Conv2d(cin, cout, k, stride=s, padding=p)),
                   {"in": cin, "out": cout, "kernel": k, "stride": s, "padding": p},
                   image_keys=("x",), image_output=True)

    # timm/DINO-style attention (fused qkv) with a relative-position-like bias and a window-style mask.
    class TimmAttention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x, bias=None):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
            if bias is not None:
                attn = attn + bias
            attn = attn.softmax(dim=-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))

    write_case("attention", {"x": torch.randn(2, 5, 8)}, lambda m, x: m(x), randomize(TimmAttention(8, 2)),
               {"dim": 8, "heads": 2})
    write_case("attention_bias", {"x": torch.randn(2, 5, 8), "bias": torch.randn(2, 5, 5)},
               lambda m, x, bias: m(x, bias), randomize(TimmAttention(8, 2)), {"dim": 8, "heads": 2})

    # torch.nn.MultiheadAttention: cross-attention with a key padding mask.
    mha = randomize(nn.MultiheadAttention(8, 2, batch_first=True))
    pad = torch.tensor([[False, False, False, True, True], [False, False, False, False, False]])
    write_case("multihead_attention",
               {"query": torch.randn(2, 3, 8), "key": torch.randn(2, 5, 8), "value": torch.randn(2, 5, 8),
                "key_padding_mask": pad},
               lambda m, query, key, value, key_padding_mask: m(query, key, value,
                                                               key_padding_mask=key_padding_mask,
                                                               need_weights=False)[0],
               mha, {"dim": 8, "heads": 2})

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 12)
            self.fc2 = nn.Linear(12, 6)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)))

    write_case("mlp", {"x": torch.randn(2, 3, 6)}, lambda m, x: m(x), randomize(Mlp()),
               {"in": 6, "hidden": 12, "out": 6})
    write_case("gelu", {"x": torch.randn(4, 9) * 3}, lambda m, x: F.gelu(x))
    write_case("gelu_tanh", {"x": torch.randn(4, 9) * 3}, lambda m, x: F.gelu(x, approximate="tanh"))

    emb = randomize(nn.Embedding(10, 4))
    write_case("embedding", {"ids": torch.tensor([[1, 3, 3], [9, 0, 1]])}, lambda m, ids: m(ids), emb,
               {"num": 10, "dim": 4})

    # DETR's PositionEmbeddingSine (models/position_encoding.py) without a padding mask.
    def detr_sine(h, w, num_pos_feats, temperature=10000, normalize=False, scale=2 * math.pi):
        not_mask = torch.ones(1, h, w)
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
        dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
        dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3)[0]  # (H, W, 2·feats)

    save_safetensors(OUT / "sine_position.safetensors", {
        "normalized": detr_sine(5, 7, 16, normalize=True),
        "raw": detr_sine(3, 4, 8),
    })

    # Resizing with F.interpolate: up, down, non-integer ratios, align_corners, scale_factor (DINO's +0.1 trick).
    resize_cases = [
        ("bilinear_up", (7, 5), dict(size=(13, 11), mode="bilinear", align_corners=False)),
        ("bilinear_down", (13, 17), dict(size=(5, 6), mode="bilinear", align_corners=False)),
        ("bilinear_align", (6, 5), dict(size=(11, 9), mode="bilinear", align_corners=True)),
        ("bicubic_up", (7, 5), dict(size=(13, 11), mode="bicubic", align_corners=False)),
        ("bicubic_down", (13, 17), dict(size=(5, 6), mode="bicubic", align_corners=False)),
        ("bicubic_align", (6, 5), dict(size=(11, 9), mode="bicubic", align_corners=True)),
        ("bicubic_scale", (4, 4), dict(scale_factor=((6 + 0.1) / 4, (9 + 0.1) / 4), mode="bicubic", align_corners=False)),
        ("nearest_up", (5, 3), dict(size=(12, 7), mode="nearest")),
        ("nearest_down", (13, 11), dict(size=(4, 6), mode="nearest")),
        ("nearest_x2", (4, 3), dict(size=(8, 6), mode="nearest")),
    ]
    for name, (h, w), kwargs in resize_cases:
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        write_case(f"resize_{name}", {"x": torch.randn(2, 3, h, w)}, lambda m, x: F.interpolate(x, **kwargs),
                   config=config, image_keys=("x",), image_output=True)

    # Depthwise Conv2d (groups = Cin), last so the seeded cases above keep their values: MobileNetV2's
    # bias-free 3×3 (stride 1 and 2), and a depth multiplier of 2 with bias.
    for name, (cin, cout, k, s, p, bias, h, w) in {
        "conv2d_depthwise_3x3": (4, 4, 3, 1, 1, False, 7, 6),
        "conv2d_depthwise_3x3_s2": (5, 5, 3, 2, 1, False, 9, 8),
        "conv2d_depthwise_x2": (3, 6, 3, 1, 0, True, 6, 7),
    }.items():
        write_case(name, {"x": torch.randn(2, cin, h, w)}, lambda m, x: m(x),
                   randomize(nn.Conv2d(cin, cout, k, stride=s, padding=p, groups=cin, bias=bias)),
                   {"in": cin, "out": cout, "kernel": k, "stride": s, "padding": p, "groups": cin, "bias": bias},
                   image_keys=("x",), image_output=True)


if __name__ == "__main__":
    main()
