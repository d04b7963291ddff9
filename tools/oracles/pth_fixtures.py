"""Fixtures for the PyTorch checkpoint reader, the restricted unpickler and the ViT key maps.

    /usr/bin/python3 tools/oracles/pth_fixtures.py   # writes test/fixtures/weights/

The .pth files are written by torch.save (zip format), with the expected values beside them as safetensors. The
malicious ones hold hand-written pickles in the same zip layout: loading them with pickle or torch.load would run
a shell command that creates MALICIOUS_OUTPUT. This script only writes them and never unpickles anything.
"""
import argparse
import os
import pickle
import pickletools
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from common import FIXTURES, save_safetensors

OUT = FIXTURES / "weights"
MALICIOUS_OUTPUT = "sseg-weights-pwned"  # relative to the working directory; the tests check it is never created
FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # zip entry timestamps, so that reruns write identical files
SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                      torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}

torch.manual_seed(0)


def tensors_fixture() -> None:
    """Every dtype and view kind a state dict can hold; expected values as float32, dtypes in the metadata."""
    shared = torch.arange(20, dtype=torch.float32) * 0.5 - 3
    state = OrderedDict(
        float32=torch.randn(3, 4),
        float16=torch.randn(2, 5).half(),
        bfloat16=torch.randn(5).bfloat16(),
        float64=torch.randn(2, 2).double(),
        transposed=torch.randn(3, 5).t(),  # stride (1, 5)
        permuted=torch.randn(2, 3, 4).permute(2, 0, 1),
        expanded=torch.randn(3, 1).expand(3, 4),  # stride 0
        view_offset=shared[2:8].view(2, 3),  # offset 2 into a storage shared with the next two
        view_strided=shared[10:20:2],  # offset 10, stride 2
        view_whole=shared,
        scalar=torch.tensor(2.5),
        empty=torch.zeros(0, 3),
        int64=torch.tensor([[-3, 0], [7, 2**31 - 1]]),
        int32=torch.tensor([5, -6], dtype=torch.int32),
        uint8=torch.tensor([0, 255], dtype=torch.uint8),
        bool=torch.tensor([True, False, True]),
        parameter=nn.Parameter(torch.randn(2, 2)),  # pickled through torch._utils._rebuild_parameter
    )
    torch.save(state, OUT / "tensors.pth")
    save_safetensors(OUT / "tensors.expected.safetensors", {k: as_float32(v) for k, v in state.items()},
                     {"dtypes": {k: SAFETENSORS_DTYPES[v.dtype] for k, v in state.items()}})
    assert torch.load(OUT / "tensors.pth")["view_strided"].stride() == (2,)

    rewrite_zip(OUT / "tensors.pth", OUT / "tensors_zip64_deflated.pth")
    data = (OUT / "tensors.pth").read_bytes()
    (OUT / "truncated.pth").write_bytes(data[: len(data) // 2])


def as_float32(t: torch.Tensor) -> tuple:
    """Raw float32 values with the tensor's own shape (save_safetensors would turn a 0-d tensor into 1-d)."""
    return "F32", t.detach().float().contiguous().numpy().tobytes(), tuple(t.shape)


def rewrite_zip(source: Path, target: Path) -> None:
    """Copy a checkpoint's zip entries deflated and with ZIP64 records everywhere (zipfile writes them for sizes
    and offsets above ZIP64_LIMIT, so the limit is lowered while writing)."""
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = -1
    try:
        with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(zipfile.ZipInfo(info.filename, info.date_time), src.read(info), zipfile.ZIP_DEFLATED)
    finally:
        zipfile.ZIP64_LIMIT = limit
    raw = target.read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw, "no ZIP64 end records"
    loaded = torch.load(target)
    assert torch.equal(loaded["transposed"], torch.load(source)["transposed"])


class Attention(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)


class Block(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 2 * dim)


class TinyVit(nn.Module):
    """The parameter names of DINO's vision_transformer.py (one block, width 8, patch 4, 8x8 images)."""

    def __init__(self, dim: int = 8, patch: int = 4, tokens: int = 5):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.blocks = nn.ModuleList([Block(dim)])
        self.norm = nn.LayerNorm(dim)
        for p in self.parameters():
            nn.init.normal_(p)  # LayerNorm's ones and zeros would hide swapped keys


class MultiCropWrapper(nn.Module):
    """DINO's wrapper: the backbone and the projection head, as `backbone.*` and `head.*`."""

    def __init__(self):
        super().__init__()
        self.backbone = TinyVit()
        self.head = nn.Linear(8, 4)


class DistributedLike(nn.Module):
    """Stands in for DistributedDataParallel, which prefixes every key with `module.`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


def dino_fixtures() -> None:
    """A DINO full training checkpoint (teacher, student, optimizer, args, …), the teacher's backbone as
    expected values under DINO's names, and the same backbone in Hugging Face ViTModel's names."""
    teacher, student = MultiCropWrapper(), DistributedLike(MultiCropWrapper())
    optimizer = torch.optim.AdamW(student.parameters(), lr=5e-4)
    student.module.head(student.module.backbone.cls_token).sum().backward()
    optimizer.step()
    args = argparse.Namespace(arch="vit_tiny", patch_size=4, out_dim=4, lr=5e-4, use_fp16=False,
                              data_path="/data/imagenet/train", momentum_teacher=0.996, local_crops_scale=(0.05, 0.4))
    torch.save({"student": student.state_dict(), "teacher": teacher.state_dict(), "optimizer": optimizer.state_dict(),
                "epoch": 3, "args": args, "dino_loss": {"center": torch.zeros(1, 4)}},
               OUT / "dino_full_checkpoint.pth")
    backbone = teacher.backbone.state_dict()
    save_safetensors(OUT / "vit_dino.expected.safetensors", backbone)
    save_safetensors(OUT / "vit_hf.safetensors", huggingface_names(backbone))


def huggingface_names(state: dict) -> dict:
    """DINO ViT weights under the names of transformers' ViTModel (as in facebook/dino-vits8), pooler included."""
    dim = state["cls_token"].shape[-1]
    hf = {"embeddings.cls_token": state["cls_token"], "embeddings.position_embeddings": state["pos_embed"],
          "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
          "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"]}
    for kind in ("weight", "bias"):
        b, layer = "blocks.0.", "encoder.layer.0."
        q, k, v = state[f"{b}attn.qkv.{kind}"].split(dim)
        hf |= {f"{layer}attention.attention.query.{kind}": q, f"{layer}attention.attention.key.{kind}": k,
               f"{layer}attention.attention.value.{kind}": v,
               f"{layer}attention.output.dense.{kind}": state[f"{b}attn.proj.{kind}"],
               f"{layer}layernorm_before.{kind}": state[f"{b}norm1.{kind}"],
               f"{layer}layernorm_after.{kind}": state[f"{b}norm2.{kind}"],
               f"{layer}intermediate.dense.{kind}": state[f"{b}mlp.fc1.{kind}"],
               f"{layer}output.dense.{kind}": state[f"{b}mlp.fc2.{kind}"],
               f"layernorm.{kind}": state[f"norm.{kind}"]}
    hf |= {"pooler.dense.weight": torch.randn(dim, dim), "pooler.dense.bias": torch.randn(dim)}
    return hf


def write_torch_zip(path: Path, data_pkl: bytes) -> None:
    """A pickle in torch.save's zip layout (<archive>/data.pkl, <archive>/version), checked to parse."""
    list(pickletools.genops(data_pkl))  # parses opcodes without executing them
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo(f"{path.stem}/data.pkl", FIXED_DATE), data_pkl)
        zf.writestr(zipfile.ZipInfo(f"{path.stem}/version", FIXED_DATE), "3\n")


def binunicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def short_binunicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def malicious_fixtures() -> None:
    # {"weight": os.system("echo pwned > …")} in protocol 2; pickle names os.system as posix.system.
    assert b"cposix\nsystem\n" in pickle.dumps(os.system, protocol=2)
    system = (b"\x80\x02"  # PROTO 2
              b"}q\x00"  # EMPTY_DICT, BINPUT 0
              + binunicode("weight")
              + b"cposix\nsystem\n"  # GLOBAL posix.system
              + binunicode(f"echo pwned > {MALICIOUS_OUTPUT}")
              + b"\x85"  # TUPLE1
              + b"R"  # REDUCE: a normal unpickler calls posix.system(command) here
              + b"s"  # SETITEM
              + b".")  # STOP
    write_torch_zip(OUT / "malicious_system.pth", system)

    # builtins.eval("__import__('os').system(…)") in protocol 4: FRAME, STACK_GLOBAL, MEMOIZE.
    body = (short_binunicode("builtins") + b"\x94"  # SHORT_BINUNICODE, MEMOIZE
            + short_binunicode("eval") + b"\x94"
            + b"\x93\x94"  # STACK_GLOBAL builtins.eval, MEMOIZE
            + short_binunicode(f"__import__('os').system('echo pwned > {MALICIOUS_OUTPUT}')") + b"\x94"
            + b"\x85\x94"  # TUPLE1, MEMOIZE
            + b"R\x94"  # REDUCE: eval(code) here
            + b".")
    write_torch_zip(OUT / "malicious_eval.pth", b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body)


def patch_sizes(path: Path, entry: str, size: int) -> None:
    """Overwrite an entry's uncompressed size in its local header and the central directory (a forged archive)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(entry)
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local file header: uncompressed size
    name = entry.encode()
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 24, size)  # central directory: uncompressed size
    path.write_bytes(bytes(data))


def deflated_copy(weight: torch.Tensor, path: Path, storage_body: bytes | None = None) -> str:
    """torch.save({"weight": weight}) rewritten with every entry deflated (optionally another storage body);
    returns the storage entry's name."""
    torch.save({"weight": weight}, path)
    with zipfile.ZipFile(path) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    storage = next(name for name in entries if name.endswith("/data/0"))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            body = storage_body if name == storage and storage_body is not None else content
            zf.writestr(zipfile.ZipInfo(name, FIXED_DATE), body, zipfile.ZIP_DEFLATED)
    return storage


def memory_fixtures() -> None:
    """Small files that would make a naive reader allocate gigabytes: each must be refused with a clear error."""
    # a zip bomb: 20 MB of zeros deflated to ~20 KB, under a directory entry that says 400 bytes (100 floats)
    storage = deflated_copy(torch.zeros(100), OUT / "bomb.pth", b"\0" * 20_000_000)
    patch_sizes(OUT / "bomb.pth", storage, 400)
    # a directory that claims 3 GB for a few compressed bytes
    storage = deflated_copy(torch.zeros(4), OUT / "forged_size.pth")
    patch_sizes(OUT / "forged_size.pth", storage, 3_000_000_000)
    # one stored float viewed as 600 M elements (stride 0): 2.4 GB if copied out
    torch.save({"weight": torch.zeros(1).expand(600_000_000)}, OUT / "stride0.pth")


def pickle_value_fixtures() -> None:
    """Plain Python values in every protocol the unpickler reads (2–5); the test spells out the same values."""
    shared = [1, 2]
    values = {"none": None, "true": True, "false": False, "small": 7, "byte": 255, "short": 65535,
              "int": -123456, "int32_min": -2**31, "safe": 2**53 - 1, "big": 2**70, "neg_big": -2**63 - 1,
              "float": -1.25e-3, "text": "héllo ✓", "long_text": "ab" * 200, "list": [1, [2, 3]],
              "tuple0": (), "tuple1": (1,), "tuple2": (1, 2), "tuple3": (1, 2, 3), "tuple4": (1, 2, 3, 4),
              "shared": [shared, shared], "ordered": OrderedDict(a=1, b=2), "int_keys": {0: "zero", -1: "minus one"},
              "long_list": list(range(1200))}  # > 1000 items: APPENDS in two batches
    for protocol in range(2, 6):
        extra = {} if protocol == 2 else {"bytes": b"\x00\x01\xff"}  # protocol 2 pickles bytes via _codecs.encode
        (OUT / f"values.p{protocol}.pkl").write_bytes(pickle.dumps(values | extra, protocol=protocol))


OUT.mkdir(parents=True, exist_ok=True)
tensors_fixture()
dino_fixtures()
malicious_fixtures()
memory_fixtures()
pickle_value_fixtures()
total = sum(f.stat().st_size for f in OUT.iterdir())
print(f"{len(list(OUT.iterdir()))} files, {total} bytes in {OUT}")
assert total < 200_000
