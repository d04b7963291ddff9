"""PyTorch references for src/train/{matcher,losses,criterion}.ts: MaskFormer v1's Hungarian matcher and
SetCriterion mask losses without the class term (S-Seg has no class head), and GroupViT's contrastive loss.

Sources. MaskFormer is CC BY-NC 4.0 and GroupViT is under the NVIDIA Source Code License, so their code is
re-expressed here with the same operations in the same order rather than copied; `dice_loss` and
`sigmoid_focal_loss` follow DETR's versions (facebookresearch/detr models/segmentation.py, Apache-2.0), which
MaskFormer reuses:
  - facebookresearch/MaskFormer mask_former/modeling/matcher.py: batch_dice_loss, batch_sigmoid_focal_loss,
    HungarianMatcher.memory_efficient_forward (nearest-downsampled targets, scipy linear_sum_assignment);
  - facebookresearch/MaskFormer mask_former/modeling/criterion.py: dice_loss, sigmoid_focal_loss,
    SetCriterion.loss_masks and forward (aux losses, num_masks);
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


# ---- matcher.py (class cost removed) ----

def batch_dice_cost(inputs, targets):
    """[Q, P] logits × [K, P] targets → [Q, K] dice costs."""
    inputs = inputs.sigmoid().flatten(1)
    numerator = 2 * torch.einsum("nc,mc->nm", inputs, targets)
    denominator = inputs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def batch_focal_cost(inputs, targets, alpha=0.25, gamma=2):
    """[Q, P] logits × [K, P] targets → [Q, K] mean focal losses, as two matrix products."""
    hw = inputs.shape[1]
    prob = inputs.sigmoid()
    focal_pos = ((1 - prob) ** gamma) * F.binary_cross_entropy_with_logits(
        inputs, torch.ones_like(inputs), reduction="none") * alpha
    focal_neg = (prob ** gamma) * F.binary_cross_entropy_with_logits(
        inputs, torch.zeros_like(inputs), reduction="none") * (1 - alpha)
    return (torch.einsum("nc,mc->nm", focal_pos, targets) + torch.einsum("nc,mc->nm", focal_neg, 1 - targets)) / hw


@torch.no_grad()
def match(pred_masks, targets):
    """pred_masks [B, Q, h, w]; targets: per image [K, H, W]. Returns per-image (pred indices, target indices)
    and the per-image cost matrices [Q, K]."""
    indices, costs = [], []
    for b in range(pred_masks.shape[0]):
        out_mask = pred_masks[b]
        tgt_mask = F.interpolate(targets[b][:, None], size=out_mask.shape[-2:], mode="nearest")
        out_mask = out_mask.flatten(1)
        tgt_mask = tgt_mask[:, 0].flatten(1)
        cost = FOCAL_WEIGHT * batch_focal_cost(out_mask, tgt_mask) + DICE_WEIGHT * batch_dice_cost(out_mask, tgt_mask)
        cost = cost.reshape(out_mask.shape[0], -1)
        costs.append(cost)
        rows, cols = linear_sum_assignment(cost)
        indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
    return indices, costs


# ---- criterion.py (DETR's loss functions; "masks" loss only) ----

def dice_loss(inputs, targets, num_masks):
    inputs = inputs.sigmoid().flatten(1)
    numerator = 2 * (inputs * targets).sum(-1)
    denominator = inputs.sum(-1) + targets.sum(-1)
    loss = 1 - (numerator + 1) / (denominator + 1)
    return loss.sum() / num_masks


def sigmoid_focal_loss(inputs, targets, num_masks, alpha=0.25, gamma=2):
    prob = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * loss).mean(1).sum() / num_masks


def loss_masks(pred_masks, targets, indices, num_masks):
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    tgt_batch_idx = torch.cat([torch.full_like(tgt, i) for i, (_, tgt) in enumerate(indices)])
    tgt_idx = torch.cat([tgt for _, tgt in indices])
    src_masks = pred_masks[batch_idx, src_idx]
    # MaskFormer pads the targets to one size with nested_tensor_from_tensor_list; ours already share one.
    target_masks = torch.stack([F.pad(t, (0, 0, 0, 0, 0, max(len(u) for u in targets) - len(t))) for t in targets])
    target_masks = target_masks[tgt_batch_idx, tgt_idx]
    src_masks = F.interpolate(src_masks[:, None], size=target_masks.shape[-2:], mode="bilinear", align_corners=False)
    src_masks = src_masks[:, 0].flatten(1)
    target_masks = target_masks.flatten(1).view(src_masks.shape)
    return {"loss_mask": sigmoid_focal_loss(src_masks, target_masks, num_masks),
            "loss_dice": dice_loss(src_masks, target_masks, num_masks)}


def set_criterion(layer_logits, targets):
    """SetCriterion.forward with aux outputs: the last layer unsuffixed, earlier layers `_i`."""
    num_masks = max(float(sum(len(t) for t in targets)), 1.0)
    all_indices, all_costs = [None] * len(layer_logits), [None] * len(layer_logits)
    losses = {}
    order = [len(layer_logits) - 1] + list(range(len(layer_logits) - 1))
    for layer in order:
        indices, costs = match(layer_logits[layer], targets)
        all_indices[layer], all_costs[layer] = indices, costs
        suffix = "" if layer == len(layer_logits) - 1 else f"_{layer}"
        for k, v in loss_masks(layer_logits[layer], targets, indices, num_masks).items():
            losses[k + suffix] = v
    weights = {k: FOCAL_WEIGHT if k.startswith("loss_mask") else DICE_WEIGHT for k in losses}
    total = sum(weights[k] * v for k, v in losses.items())
    return losses, total, all_indices, all_costs, num_masks


# ---- GroupViT's contrastive loss, one process ----

def contrastive_loss(image_x, text_x, logit_scale):
    labels = torch.arange(image_x.shape[0])
    image_x = F.normalize(image_x, dim=-1)
    text_x = F.normalize(text_x, dim=-1)
    logits_per_img = image_x @ text_x.t()
    logits_per_text = text_x @ image_x.t()
    scale = torch.clamp(logit_scale.exp(), max=100)
    return 0.5 * (F.cross_entropy(logits_per_img * scale, labels) + F.cross_entropy(logits_per_text * scale, labels))


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
