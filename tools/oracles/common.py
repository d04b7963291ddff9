"""Shared helpers for the PyTorch oracle scripts: seeded tensors and a minimal safetensors writer.

Run the oracles with Debian's interpreter (/usr/bin/python3, which has python3-torch); tests never need Python.
"""
import json
import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "test" / "fixtures"


def nchw_to_nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1).contiguous()


def save_safetensors(path: Path, tensors: dict, metadata: dict | None = None) -> None:
    """Write tensors in safetensors layout, keys in insertion order. Values are float32 unless given as
    (dtype_name, raw_bytes, shape) tuples, which are written as they are."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, value in tensors.items():
        if isinstance(value, tuple):
            dtype, raw, shape = value
        else:
            arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            arr = np.ascontiguousarray(arr, dtype="<f4")
            dtype, raw, shape = "F32", arr.tobytes(), arr.shape
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text.encode())) % 8) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text.encode())))
        f.write(text.encode())
        for raw in blobs:
            f.write(raw)


def randomize(module: nn.Module) -> nn.Module:
    """Non-trivial weights for every parameter and buffer (default inits hide bugs: ones, zeros), gains near 1."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") and p.dim() == 1 else 0.0))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
    return module
