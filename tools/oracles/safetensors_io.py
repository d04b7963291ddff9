"""Reading the F32 safetensors files the TypeScript harnesses write, with numpy only (no torch import, which
would change the OpenMP thread pools that scikit-learn benchmarks report)."""
import json
import struct
from pathlib import Path

import numpy as np
def load_f32_safetensors(path) -> dict:
    """The F32 tensors of a safetensors file as numpy arrays (the bench harnesses write nothing else)."""
    data = Path(path).read_bytes()
    header_length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_length])
    body = memoryview(data)[8 + header_length :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(entry["shape"])
    return tensors
