"""PyTorch side of the `segment_*` workloads (bench/segment.ts): the same S-Seg model, composed from the reference
modules in tools/oracles (as bench/sseg_step_torch.py builds it), and the same inference math as
src/infer/segmenter.ts + semantic.ts — normalise, pad to a multiple of 32, forward, last layer's mask logits
upsampled bilinearly to the input before the sigmoid, per-query softmax over logit-scaled cosine similarities with
the class embeddings, the normalised mask mix, sliding windows averaged, the threshold rule — in eval mode, no grad.

The harness hands over the weights, the 448² photo and the class embeddings (from the TypeScript model's own text
tower) in its inputs file, and bench/segment.ts's SEGMENT_BENCH with the model configurations as JSON metadata
(key "sseg_segment").
"""
import json

import torch
import torch.nn.functional as F

from sseg_step_torch import SSeg, load_weights

MEAN = torch.tensor([123.675, 116.28, 103.53])
STD = torch.tensor([58.395, 57.12, 57.375])
STAGES = ["res2", "res3", "res4", "res5"]


def windows(width: int, height: int, crop: int, stride: int):
    """mmseg's slide_inference grid, the last row/column clamped to the border (src/infer/segmenter.ts)."""
    grid = lambda size: max(size - crop + stride - 1, 0) // stride + 1  # noqa: E731
    out = []
    for row in range(grid(height)):
        for column in range(grid(width)):
            y2, x2 = min(row * stride + crop, height), min(column * stride + crop, width)
            y, x = max(y2 - crop, 0), max(x2 - crop, 0)
            out.append((x, y, x2 - x, y2 - y))
    return out


def pixel_scores(model: SSeg, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Normalised images [B, 3, H, W] (sides multiples of 32) → class scores [B, H, W, C]."""
    features = dict(zip(STAGES, model.backbone(images)))
    _, layer_masks, embeddings = model.sem_seg_head(features)
    masks = F.interpolate(layer_masks[-1], size=images.shape[-2:], mode="bilinear", align_corners=False).sigmoid()
    queries = F.normalize(model.img_projector(embeddings[-1]), dim=-1)  # [B, Q, E]
    scale = model.logit_scale.logit_scale.exp().clamp(max=100)
    probabilities = (scale * queries @ classes.t()).softmax(-1)  # [B, Q, C]
    mixed = torch.einsum("bqhw,bqc->bhwc", masks, probabilities)
    return mixed / masks.sum(1).clamp(min=1e-6).unsqueeze(-1)


def prepare_run(name: str):
    def prepare(inputs: dict):
        bench = json.loads(inputs["sseg_segment"])
        run = bench["runs"][name]
        model = SSeg(bench["configs"][run["config"]])
        prefix = f"segment.{run['config']}."
        load_weights(model, {f"sseg.model.{k[len(prefix + 'model.'):]}": v for k, v in inputs.items()
                             if k.startswith(prefix + "model.")})
        model.eval()
        classes = inputs[prefix + "classes"]
        pixels = inputs["segment.image"][0]  # [H, W, 3], 0–255
        height, width = pixels.shape[:2]
        step = bench["windowsPerPass"]

        @torch.no_grad()
        def segment():
            image = ((pixels - MEAN) / STD).permute(2, 0, 1)  # [3, H, W]
            boxes = windows(width, height, run["crop"], run["stride"]) if run["mode"] == "slide" else [
                (0, 0, width, height)]
            sums = torch.zeros(height, width, classes.shape[0])
            counts = torch.zeros(height, width, 1)
            w, h = boxes[0][2], boxes[0][3]
            padded_w, padded_h = -(-w // 32) * 32, -(-h // 32) * 32
            for first in range(0, len(boxes), step):
                batch = boxes[first:first + step]
                crops = torch.stack([F.pad(image[:, y:y + h, x:x + w], (0, padded_w - w, 0, padded_h - h))
                                     for x, y, _, _ in batch])
                scores = pixel_scores(model, crops, classes)
                for (x, y, _, _), s in zip(batch, scores):
                    sums[y:y + h, x:x + w] += s[:h, :w]
                    counts[y:y + h, x:x + w] += 1
            scores = sums / counts
            best, arg = scores.max(-1)
            labels = torch.where(best >= min(bench["threshold"], best.max().item()), arg + 1, 0)  # noqa: F841
            return {"scores": scores}

        segment.info = {"parameters": sum(p.numel() for p in model.parameters())}
        return segment

    return prepare


WORKLOADS = {name: prepare_run(name) for name in
             ("segment_tiny_whole", "segment_tiny_slide", "segment_paper_whole", "segment_paper_slide")}
