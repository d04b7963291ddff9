"""PyTorch references for src/train/{matcher,losses,criterion}.ts: MaskFormer v1's Hungarian matcher and
SetCriterion mask losses without the class term (S-Seg has no class head), and GroupViT's contrastive loss.

Licensing. MaskFormer's own code is CC BY-NC 4.0 and GroupViT's is under the NVIDIA Source Code License, so none of
it is copied here: the matching costs, the matcher, the per-layer loss selection and the criterion are re-expressed
from MaskFormer's design (CC BY-NC 4.0, not copied), and the contrastive loss from GroupViT's design (NVIDIA Source
Code License, not copied), with the same operations in the same order, so the fixtures are unchanged. The two loss
functions MaskFormer takes from DETR, `dice_loss` and `sigmoid_focal_loss`, are copied verbatim from DETR itself
(facebookresearch/detr models/segmentation.py, Apache-2.0). What is re-expressed, and from where:
  - MaskFormer mask_former/modeling/matcher.py: batch_dice_loss, batch_sigmoid_focal_loss,
    HungarianMatcher.memory_efficient_forward (nearest-downsampled targets, scipy linear_sum_assignment);
  - MaskFormer mask_former/modeling/criterion.py: SetCriterion.loss_masks and forward (aux losses, num_masks);
  - NVlabs/GroupViT models/multi_label_contrastive.py: MultiLabelContrastive.loss on one process.

Fixtures (test/fixtures/train/):
  mask_{focal,dice}.safetensors             focal / dice loss of random pairs (some saturated logits) + gradient
  contrastive_{base,clamped}.safetensors    contrastive loss + gradients w.r.t. both embeddings and θ
  criterion_{main,few_queries}.safetensors  per-layer logits, targets, cost matrices, matches, every loss term
                                            and the gradient of the weighted total w.r.t. each layer's logits

    /usr/bin/python3 tools/oracles/maskformer_loss_fixtures.py
"""
import math

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from common import FIXTURES, save_safetensors

OUT = FIXTURES / "train"
torch.manual_seed(0)

FOCAL_WEIGHT, DICE_WEIGHT = 20.0, 1.0  # S-Seg / MaskFormer: cost_mask = mask_weight = 20, dice = 1


# ---- matching (MaskFormer's matcher without the class cost; re-expressed, not copied) ----

def pairwise_dice_cost(logits, targets):
    """Dice loss of every prediction against every target: logits [Q, P], binary targets [K, P] → [Q, K],
    1 − (2·Σ p·t + 1) / (Σ p + Σ t + 1) with p = σ(logits)."""
    p = logits.sigmoid().flatten(1)
    overlap = torch.einsum("nc,mc->nm", p, targets)
    sizes = p.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (2 * overlap + 1) / (sizes + 1)


def pairwise_focal_cost(logits, targets, alpha=0.25, gamma=2):
    """Pixel-mean sigmoid focal loss of every prediction against every target, [Q, P] × [K, P] → [Q, K]. A pixel
    costs α(1 − p)^γ·BCE(x, 1) where the target is 1 and (1 − α)p^γ·BCE(x, 0) where it is 0, so the sums over
    pixels are two matrix products."""
    p = logits.sigmoid()
    if_foreground = (1 - p) ** gamma * F.binary_cross_entropy_with_logits(
        logits, torch.ones_like(logits), reduction="none") * alpha
    if_background = p ** gamma * F.binary_cross_entropy_with_logits(
        logits, torch.zeros_like(logits), reduction="none") * (1 - alpha)
    summed = torch.einsum("nc,mc->nm", if_foreground, targets) + torch.einsum("nc,mc->nm", if_background, 1 - targets)
    return summed / logits.shape[1]


@torch.no_grad()
def match(pred_masks, targets):
    """pred_masks [B, Q, h, w]; targets: per image [K, H, W]. Per image, the targets are shrunk to h×w (nearest)
    and the cost 20·focal + 1·dice is assigned by scipy. Returns per-image (pred indices, target indices) and the
    per-image cost matrices [Q, K]."""
    indices, costs = [], []
    for logits, image_targets in zip(pred_masks, targets):
        shrunk = F.interpolate(image_targets[:, None], size=logits.shape[-2:], mode="nearest")
        flat_logits, flat_targets = logits.flatten(1), shrunk[:, 0].flatten(1)
        cost = FOCAL_WEIGHT * pairwise_focal_cost(flat_logits, flat_targets) + DICE_WEIGHT * pairwise_dice_cost(
            flat_logits, flat_targets)
        costs.append(cost)
        rows, cols = linear_sum_assignment(cost)
        indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
    return indices, costs


# ---- loss functions: copied verbatim from facebookresearch/detr models/segmentation.py (commit 29901c5;
# Copyright (c) Facebook, Inc. and its affiliates. All Rights Reserved; Apache License 2.0) ----

def dice_loss(inputs, targets, num_boxes):
    """
    Compute the DICE loss, similar to generalized IOU for masks
    Args:
        inputs: A float tensor of arbitrary shape.
                The predictions for each example.
        targets: A float tensor with the same shape as inputs. Stores the binary
                 classification label for each element in inputs
                (0 for the negative class and 1 for the positive class).
    """
    inputs = inputs.sigmoid()
    inputs = inputs.flatten(1)
    numerator = 2 * (inputs * targets).sum(1)
    denominator = inputs.sum(-1) + targets.sum(-1)
    loss = 1 - (numerator + 1) / (denominator + 1)
    return loss.sum() / num_boxes


def sigmoid_focal_loss(inputs, targets, num_boxes, alpha: float = 0.25, gamma: float = 2):
    """
    Loss used in RetinaNet for dense detection: https://arxiv.org/abs/1708.02002.
    Args:
        inputs: A float tensor of arbitrary shape.
                The predictions for each example.
        targets: A float tensor with the same shape as inputs. Stores the binary
                 classification label for each element in inputs
                (0 for the negative class and 1 for the positive class).
        alpha: (optional) Weighting factor in range (0,1) to balance
                positive vs negative examples. Default = -1 (no weighting).
        gamma: Exponent of the modulating factor (1 - p_t) to
               balance easy vs hard examples.
    Returns:
        Loss tensor
    """
    prob = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)

    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss

    return loss.mean(1).sum() / num_boxes

# ---- end of the DETR code ----


# ---- criterion (MaskFormer's SetCriterion, "masks" loss only; re-expressed, not copied) ----

def matched_mask_losses(pred_masks, targets, indices, num_masks):
    """One decoder layer's focal and dice losses over its matched pairs: each matched prediction (of [B, Q, h, w])
    is upsampled bilinearly to its target's size and compared pixel by pixel. Pairs run image by image, in each
    image in the matcher's order."""
    image = torch.cat([torch.full_like(pred, b) for b, (pred, _) in enumerate(indices)])
    query = torch.cat([pred for pred, _ in indices])
    matched_targets = torch.cat([image_targets[tgt] for image_targets, (_, tgt) in zip(targets, indices)])
    logits = pred_masks[image, query]
    logits = F.interpolate(logits[:, None], size=matched_targets.shape[-2:], mode="bilinear", align_corners=False)
    logits = logits[:, 0].flatten(1)
    matched_targets = matched_targets.flatten(1)
    return {"loss_mask": sigmoid_focal_loss(logits, matched_targets, num_masks),
            "loss_dice": dice_loss(logits, matched_targets, num_masks)}


def set_criterion(layer_logits, targets):
    """Every layer matched and scored on its own, the losses normalised by the batch's target count (at least 1).
    Keys as MaskFormer names them: the last layer's unsuffixed and first, then earlier layer i's with `_i`."""
    num_masks = max(float(sum(len(t) for t in targets)), 1.0)
    last = len(layer_logits) - 1
    all_indices, all_costs, losses = [None] * (last + 1), [None] * (last + 1), {}
    for layer in [last, *range(last)]:
        all_indices[layer], all_costs[layer] = match(layer_logits[layer], targets)
        suffix = "" if layer == last else f"_{layer}"
        for name, value in matched_mask_losses(layer_logits[layer], targets, all_indices[layer], num_masks).items():
            losses[name + suffix] = value
    total = sum((FOCAL_WEIGHT if name.startswith("loss_mask") else DICE_WEIGHT) * value
                for name, value in losses.items())
    return losses, total, all_indices, all_costs, num_masks


# ---- contrastive loss (GroupViT's, on one process; re-expressed, not copied) ----

def contrastive_loss(image_x, text_x, logit_scale):
    """Symmetric InfoNCE over matching image/text rows: cosine similarities scaled by exp(θ) clamped at 100,
    cross-entropy towards the diagonal from both sides, averaged."""
    diagonal = torch.arange(image_x.shape[0])
    z = F.normalize(image_x, dim=-1)
    u = F.normalize(text_x, dim=-1)
    image_to_text = z @ u.t()
    text_to_image = u @ z.t()
    scale = torch.clamp(logit_scale.exp(), max=100)
    return 0.5 * (F.cross_entropy(image_to_text * scale, diagonal) + F.cross_entropy(text_to_image * scale, diagonal))


# ---- cases ----

def partition_masks(count, h, w):
    """`count` one-hot masks partitioning an h×w image into Voronoi cells of random centres, like pseudo-masks."""
    if count == 0:
        return torch.zeros(0, h, w)
    centres = torch.rand(count, 2) * torch.tensor([h, w])
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    dist = (ys[None] - centres[:, 0, None, None]) ** 2 + (xs[None] - centres[:, 1, None, None]) ** 2
    return F.one_hot(dist.argmin(0), count).permute(2, 0, 1).float()


def scalar_case(name, inputs, fn, grad_keys):
    """A scalar loss, stored as output [1] with cotangent 1 so tests can use checkAgainstFixture."""
    for k in grad_keys:
        inputs[k].requires_grad_(True)
    out = fn(**inputs)
    grads = torch.autograd.grad(out, [inputs[k] for k in grad_keys])
    tensors = {f"input.{k}": v for k, v in inputs.items()}
    tensors["output"] = out.reshape(1)
    tensors["cotangent"] = torch.ones(1)
    tensors.update({f"grad.input.{k}": g for k, g in zip(grad_keys, grads)})
    save_safetensors(OUT / f"{name}.safetensors", tensors)
    print(f"{name}: {out.item():.6f}")


def criterion_case(name, batch_counts, queries, layers, pred_size, target_size):
    targets = [partition_masks(k, *target_size) for k in batch_counts]
    logits = [(torch.randn(len(batch_counts), queries, *pred_size) * 2).requires_grad_(True) for _ in range(layers)]
    losses, total, indices, costs, num_masks = set_criterion(logits, targets)
    grads = torch.autograd.grad(total, logits)
    tensors = {"input.targets": torch.cat(targets)}
    for layer in range(layers):
        tensors[f"input.logits.{layer}"] = logits[layer]
        tensors[f"cost.{layer}"] = torch.cat(costs[layer], dim=1)  # [Q, T]: image b's targets are columns
        tensors[f"grad.logits.{layer}"] = grads[layer]
    config = {
        "target_counts": batch_counts,
        "num_masks": num_masks,
        "matches": [[[p.tolist(), t.tolist()] for p, t in layer_indices] for layer_indices in indices],
        "losses": {k: v.item() for k, v in losses.items()},
        "total": total.item(),
    }
    save_safetensors(OUT / f"{name}.safetensors", tensors, {"config": config})
    print(f"{name}: total {total.item():.6f}, {len(losses)} terms")


def main():
    logits = torch.randn(5, 40) * 3
    logits[0, :4] = torch.tensor([40.0, -40.0, 25.0, -25.0])  # saturated sigmoids
    targets = (torch.rand(5, 40) < 0.4).float()
    targets[0, :4] = torch.tensor([1.0, 1.0, 0.0, 0.0])
    scalar_case("mask_focal", {"logits": logits.clone(), "targets": targets}, lambda logits, targets:
                sigmoid_focal_loss(logits, targets, 4.0), ["logits"])
    scalar_case("mask_dice", {"logits": logits.clone(), "targets": targets}, lambda logits, targets:
                dice_loss(logits, targets, 4.0), ["logits"])

    image, text = torch.randn(6, 8), torch.randn(6, 8)
    for name, theta in (("contrastive_base", math.log(1 / 0.07)), ("contrastive_clamped", math.log(150.0))):
        scalar_case(name, {"image": image.clone(), "text": text.clone(), "logit_scale": torch.tensor(theta)},
                    lambda image, text, logit_scale: contrastive_loss(image, text, logit_scale),
                    ["image", "text", "logit_scale"])

    # S-Seg-like: 3 decoder layers, 8×8 predictions against 16×16 pseudo-masks, one image without targets.
    criterion_case("criterion_main", [3, 0, 2], queries=6, layers=3, pred_size=(8, 8), target_size=(16, 16))
    # More targets than queries (some targets stay unmatched) and non-integer resize ratios.
    criterion_case("criterion_few_queries", [4, 1], queries=3, layers=2, pred_size=(5, 7), target_size=(12, 16))


if __name__ == "__main__":
    main()
