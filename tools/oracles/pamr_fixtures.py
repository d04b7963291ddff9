"""Reference data for src/infer/pamr.ts: PAMR (Araslanov & Roth 2020; the test-time step of TCL's `apply_pamr`)
re-expressed with torch ops — replicate-padded shifts at each dilation, per-channel local standard deviation over
the 3×3 neighbourhoods of all dilations (unbiased, as torch's std), softmax over the neighbours of the channel-mean
affinity, then `iterations` weighted averages of the neighbours' scores. A random image with a sharp-edged square
and random scores; one case with small dilations, one with TCL's.

    /usr/bin/python3 tools/oracles/pamr_fixtures.py   # writes test/fixtures/infer/pamr.safetensors
"""
import torch
import torch.nn.functional as F

from common import FIXTURES, save_safetensors

torch.manual_seed(20261208)

RING = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def shifted(x: torch.Tensor, dilations, with_centre: bool) -> torch.Tensor:
    """x [B, K, H, W] → [B, K, P, H, W]: the value at (y + dy·d, x + dx·d), borders replicated."""
    _, _, h, w = x.shape
    out = []
    for d in dilations:
        padded = F.pad(x, [d] * 4, mode="replicate")
        offsets = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)] if with_centre else RING
        for dy, dx in offsets:
            out.append(padded[:, :, d + dy * d : d + dy * d + h, d + dx * d : d + dx * d + w])
    return torch.stack(out, 2)


def pamr(image: torch.Tensor, scores: torch.Tensor, iterations: int, dilations) -> torch.Tensor:
    std = shifted(image, dilations, True).std(2, keepdim=True)
    affinity = -(image.unsqueeze(2) - shifted(image, dilations, False)).abs() / (1e-8 + 0.1 * std)
    weights = F.softmax(affinity.mean(1, keepdim=True), 2)
    for _ in range(iterations):
        scores = (shifted(scores, dilations, False) * weights).sum(2)
    return scores


def main() -> None:
    h, w, c = 23, 31, 4
    image = torch.randint(0, 256, (1, 3, h, w)).double()
    image[:, :, 5:15, 8:20] = torch.tensor([200.0, 30.0, 60.0]).view(1, 3, 1, 1)  # a flat square with sharp edges
    image[:, 1, 0:3, :] = 17.0  # a channel without spread in places: σ = 0 must not divide by zero
    scores = torch.rand(1, c, h, w).double()
    cases = {"small": (3, [1, 2]), "tcl": (10, [1, 2, 4, 8, 12, 24])}
    tensors = {
        "image": image[0].permute(1, 2, 0).float(),  # [H, W, 3]
        "scores": scores[0].permute(1, 2, 0).float(),  # [H, W, C]
    }
    for name, (iterations, dilations) in cases.items():
        tensors[f"refined.{name}"] = pamr(image, scores, iterations, dilations)[0].permute(1, 2, 0).float()
    config = {name: {"iterations": it, "dilations": d} for name, (it, d) in cases.items()}
    save_safetensors(FIXTURES / "infer" / "pamr.safetensors", tensors, {"config": config})


if __name__ == "__main__":
    main()
