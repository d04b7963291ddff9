"""PyTorch side of `npm run bench`: the workloads of bench/workloads.ts, on the inputs the harness wrote.

Run by bench/run.ts with Debian's interpreter, once per thread count:

    /usr/bin/python3 bench/torch_bench.py --inputs IN.safetensors --threads 1 --warmup 2 --repeats 10 \
        --only matmul_1024,vit_fwd_b1 [--outputs OUT.safetensors]

Prints one JSON object on stdout (progress goes to stderr). --outputs writes the values of each workload's
last run (or its check outputs, for a training step) as "<workload>/<output>" so the harness can compare them
with tfjs. Each workload's timing also carries the process's resident memory (as bench/measure.ts measures it).
"""
import argparse
import json
import re
import resource
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "oracles"))
from common import save_safetensors  # noqa: E402  (the project's safetensors writer)
from safetensors_io import load_f32_safetensors  # noqa: E402
from vit_fixtures import vit_small  # noqa: E402  (DINO's vision_transformer.py, as the ViT fixtures use it)

import segment_torch  # noqa: E402  (bench/: the segmenter's inference from the same reference modules)
import sseg_step_torch  # noqa: E402  (bench/: the S-Seg training step from the oracles' reference modules)

VIT_DIM, VIT_HEADS, VIT_MLP, VIT_EPS = 384, 6, 1536, 1e-6


def load_safetensors(path: str) -> dict:
    """The harness's F32 inputs as torch tensors, plus its metadata entries (a workload's settings as JSON text)
    under their own keys."""
    inputs = {name: torch.from_numpy(values.copy()) for name, values in load_f32_safetensors(path).items()}
    with open(path, "rb") as f:
        header_length = struct.unpack("<Q", f.read(8))[0]
        inputs.update(json.loads(f.read(header_length)).get("__metadata__", {}))
    return inputs


def resident_memory_mb():
    """Current (VmRSS) and peak (VmHWM) resident set size of this process in MiB, or None off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kib = {field: int(re.search(rf"^{field}:\s+(\d+) kB$", status, re.M).group(1)) for field in ("VmRSS", "VmHWM")}
    return kib["VmRSS"] / 1024, kib["VmHWM"] / 1024


def reset_peak_memory() -> bool:
    """Reset VmHWM to the current RSS (writing 5 to /proc/self/clear_refs), as bench/measure.ts does."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Attention(nn.Module):
    """timm/DINO attention: fused qkv, explicit softmax (torch 1.13 has no fused SDPA)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        head_dim = c // self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        attn = ((q * head_dim**-0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-norm block with timm's names, as ViTBlock in bench/workloads.ts."""

    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(VIT_DIM, eps=VIT_EPS)
        self.attn = Attention(VIT_DIM, VIT_HEADS)
        self.norm2 = nn.LayerNorm(VIT_DIM, eps=VIT_EPS)
        self.mlp = Mlp(VIT_DIM, VIT_MLP)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def with_prefix(inputs: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in inputs.items() if k.startswith(prefix)}


def loss_and_grads(y, named_leaves):
    """loss = mean(y²) and its gradients w.r.t. the leaves, keyed as in workloads.ts."""
    loss = y.square().mean()
    grads = torch.autograd.grad(loss, [leaf for _, leaf in named_leaves])
    return {"loss": loss.reshape(1), **{f"grad.{name}": g for (name, _), g in zip(named_leaves, grads)}}


def matmul(inputs):
    a, b = inputs["matmul.a"], inputs["matmul.b"]

    @torch.no_grad()
    def run():
        return {"y": a @ b}

    return run


def vit_block(batch: int, backward: bool):
    def prepare(inputs):
        block = ViTBlock()
        block.load_state_dict(with_prefix(inputs, "vit.block."))
        x = inputs[f"vit.x.b{batch}"]
        named = list(block.named_parameters())
        if backward:
            return lambda: loss_and_grads(block(x), named)
        return torch.no_grad()(lambda: {"y": block(x)})

    return prepare


def conv3x3(backward: bool):
    def prepare(inputs):
        # tfjs is NHWC: keep x NHWC and hand conv2d a channels_last view, so both sides use that layout
        x = inputs["conv.x"].detach().requires_grad_(backward)
        weight = inputs["conv.layer.weight"].contiguous(memory_format=torch.channels_last)
        weight = weight.detach().requires_grad_(backward)

        def forward():
            return F.conv2d(x.permute(0, 3, 1, 2), weight, padding=1).permute(0, 2, 3, 1)

        if backward:
            return lambda: loss_and_grads(forward(), [("x", x), ("weight", weight)])
        return torch.no_grad()(lambda: {"y": forward()})

    return prepare


def vit_model(size: int):
    def prepare(inputs):
        model = vit_small(patch_size=8).eval()
        model.load_state_dict(with_prefix(inputs, "vit_s8.model."))
        x = inputs[f"vit_s8.x{size}"].permute(0, 3, 1, 2).contiguous()  # the harness stores NHWC
        return torch.no_grad()(lambda: {"tokens": model.get_intermediate_layers(x, n=1)[0]})

    return prepare


WORKLOADS = {
    "matmul_1024": matmul,
    "vit_fwd_b1": vit_block(1, False),
    "vit_fwdbwd_b1": vit_block(1, True),
    "vit_fwd_b4": vit_block(4, False),
    "vit_fwdbwd_b4": vit_block(4, True),
    "conv_fwd_b8": conv3x3(False),
    "conv_fwdbwd_b8": conv3x3(True),
    "vit_s8_224": vit_model(224),
    "vit_s8_448": vit_model(448),
    "sseg_tiny_step": sseg_step_torch.prepare_step("sseg_tiny_step"),
    "sseg_paper_step": sseg_step_torch.prepare_step("sseg_paper_step"),
    **segment_torch.WORKLOADS,
}


def time_runs(run, warmup: int, repeats: int, rss_before_mb=None):
    times_ms, outputs, peak_reset = [], {}, False
    for i in range(warmup + repeats):
        if i == warmup:
            peak_reset = reset_peak_memory()
        start = time.perf_counter()
        outputs = run()
        elapsed_ms = (time.perf_counter() - start) * 1e3
        if i >= warmup:
            times_ms.append(elapsed_ms)
    timing = {
        "warmup": warmup,
        "repeats": repeats,
        "timesMs": times_ms,
        "medianMs": statistics.median(times_ms),
        "minMs": min(times_ms),
    }
    resident = resident_memory_mb()
    if resident is not None and rss_before_mb is not None:
        timing["memory"] = {
            "rssBeforeMb": rss_before_mb,
            "peakRssMb": resident[1],
            "peakReset": peak_reset,
            # Recorded, not used: a child of Node starts with Node's high-water mark (exec keeps the parent's),
            # and clear_refs does not lower it.
            "ruMaxrssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    if hasattr(run, "info"):
        timing["info"] = run.info
    # A training step's runs differ from tfjs's by their dropout draws: it compares an untimed check step instead.
    return timing, getattr(run, "check", outputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--outputs")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    inputs = load_safetensors(args.inputs)
    results, outputs = {}, {}
    for name in args.only.split(","):
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r} (known: {', '.join(WORKLOADS)})")
        resident = resident_memory_mb()
        prepared = WORKLOADS[name](inputs)
        timing, last = time_runs(prepared, args.warmup, args.repeats, resident[0] if resident else None)
        results[name] = timing
        outputs.update({f"{name}/{key}": value for key, value in last.items()})
        median_ms, min_ms = timing["medianMs"], timing["minMs"]
        memory = timing.get("memory")
        peak = f", peak RSS {memory['peakRssMb']:.0f} MB (before {memory['rssBeforeMb']:.0f} MB)" if memory else ""
        print(f"[torch {args.threads} thr] {name}: median {median_ms:.1f} ms, min {min_ms:.1f} ms{peak}", file=sys.stderr)
    if args.outputs:
        save_safetensors(Path(args.outputs), outputs)
    report = {
        "torchVersion": torch.__version__,
        "threads": torch.get_num_threads(),
        "defaultThreads": default_threads,
        "results": results,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
