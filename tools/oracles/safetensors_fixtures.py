"""Reference half-precision encodings for the safetensors reader/writer: numpy float16 and torch bfloat16
(both round to nearest even), stored beside the float32 values they came from.

    /usr/bin/python3 tools/oracles/safetensors_fixtures.py   # writes test/fixtures/io/halfs.safetensors
"""
import numpy as np
import torch

from common import FIXTURES, save_safetensors

rng = np.random.default_rng(0)
special = [0.0, -0.0, 1.0, -2.5, 65504.0, 65520.0, 1e6, -1e6, 6.1e-5, 5.96e-8, 2.98e-8, 1e-10, 3.0e-38, 1e38, 3.4e38,
           np.inf, -np.inf, 1.0009765625, 1.00048828125, 1.000732421875, 2049.0, 2051.0, 1.00390625, 1.005859375]
values = np.concatenate([np.array(special, dtype=np.float32),
                         rng.standard_normal(200).astype(np.float32) * 10.0 ** rng.integers(-8, 6, 200)])
values = values.astype(np.float32)
f16 = values.astype("<f2")
bf16 = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2")
save_safetensors(FIXTURES / "io" / "halfs.safetensors", {
    "f32": values,
    "f16": ("F16", f16.tobytes(), values.shape),
    "bf16": ("BF16", bf16.tobytes(), values.shape),
    "i64": ("I64", np.array([-3, 0, 7, 2**31 - 1], dtype="<i8").tobytes(), (2, 2)),
}, {"note": "written by tools/oracles/safetensors_fixtures.py"})
print(f"{len(values)} values")
