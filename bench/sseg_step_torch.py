"""PyTorch side of the `sseg_tiny_step` and `sseg_paper_step` workloads (bench/sseg-step.ts): one S-Seg training step,
composed from the reference modules in tools/oracles, which the TypeScript model is tested against:

  backbone          swin_fixtures.SwinTransformer (Microsoft's Swin, MIT)
  sem_seg_head      maskformer_head_fixtures.Head: FPN pixel decoder + DETR-decoder predictor with S-Seg's
                    semantic_embed in place of the class head
  text_encoder      text_fixtures.TextTransformer (CLIP's blocks, GroupViT's text tower)
  img_projector,    text_fixtures.ProjectMLP (GroupViT's Conv1d–BatchNorm1d–ReLU–Conv1d)
  text_projector
  logit_scale       one 0-d parameter θ, scale min(exp θ, 100)
  loss              maskformer_loss_fixtures: Hungarian matching on 20·focal + 1·dice costs (scipy's
                    linear_sum_assignment, image by image), focal×20 + dice×1 on the matched pairs of every decoder
                    layer, plus GroupViT's contrastive loss
  step              torch.optim.AdamW over the decay / no-decay groups, clip_grad_norm_(1.0)

The harness (bench/run.ts → torch_bench.py) hands over, in its inputs file, the TypeScript model's initial weights
(loaded here by name), the batch, and bench/sseg-step.ts's SSEG_STEP settings as JSON metadata, from which the model
is built (key "sseg_step": workload name → settings); nothing is duplicated here. Only change to a reference module: the text tower runs the positions up to
the batch's last end-of-text token rather than all 77 — the same pooled features (the causal mask keeps later
positions from reaching earlier ones), and the shortcut src/model/text-transformer.ts takes, so both sides do the
same work.

Run through the harness (`node dist/bench/run.js --only sseg_tiny_step`), or on its own on a harness inputs file:

    /usr/bin/python3 bench/sseg_step_torch.py --inputs IN.safetensors [--threads 1] [--steps 3]
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "oracles"))
import maskformer_loss_fixtures as loss_ref  # noqa: E402
from maskformer_head_fixtures import Head  # noqa: E402
from swin_fixtures import DropPath, SwinTransformer  # noqa: E402
from text_fixtures import ProjectMLP, TextTransformer  # noqa: E402

PREFIX = "sseg."
STAGES = ["res2", "res3", "res4", "res5"]
# src/train/optimizer.ts: no weight decay for these names (own and module name), 0-d/1-d tensors and biases
NO_DECAY_KEYWORDS = ("embed", "position", "relative_position_bias_table", "logit_scale")


class TruncatedTextTransformer(TextTransformer):
    """The reference text tower, run on the positions up to the batch's last end-of-text token (see above)."""

    def forward(self, text):
        length = int(text.argmax(dim=-1).max()) + 1
        ids = text[:, :length]
        for block in self.transformer.resblocks:
            block.attn_mask = self.causal_mask[:length, :length]
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]


class LogitScale(nn.Module):
    """The contrastive temperature θ, under the TypeScript model's name (`logit_scale.logit_scale`)."""

    def __init__(self):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


class SSeg(nn.Module):
    """S-Seg from the reference modules, with the TypeScript model's state-dict names."""

    def __init__(self, config: dict):
        super().__init__()
        swin, pixel, decoder, text, projector = (config[k] for k in
                                                 ("backbone", "pixelDecoder", "decoder", "text", "projector"))
        if decoder["dropout"] != 0.1 or decoder["enforceInputProjection"]:
            raise ValueError("maskformer_head_fixtures.Head has dropout 0.1 and a projection only when widths differ")
        self.backbone = SwinTransformer(
            patch_size=swin["patchSize"], in_chans=swin["inChannels"], embed_dim=swin["embedDim"],
            depths=list(swin["depths"]), num_heads=list(swin["numHeads"]), window_size=swin["windowSize"],
            mlp_ratio=swin["mlpRatio"], qkv_bias=swin["qkvBias"], drop_path_rate=swin["dropPathRate"])
        self.sem_seg_head = Head({
            "backbone_channels": [swin["embedDim"] * 2**i for i in range(4)], "conv_dim": pixel["convDim"],
            "mask_dim": pixel["maskDim"], "norm_groups": pixel["normGroups"], "hidden_dim": decoder["hiddenDim"],
            "nheads": decoder["heads"], "dim_feedforward": decoder["feedforwardDim"], "dec_layers": decoder["layers"],
            "num_queries": decoder["queries"], "embed_dim": decoder["hiddenDim"]})
        self.text_encoder = TruncatedTextTransformer(text["contextLength"], text["width"], text["layers"],
                                                     text["vocabSize"], heads=text["heads"])
        self.text_encoder.causal_mask = self.text_encoder.transformer.resblocks[0].attn_mask
        self.img_projector = ProjectMLP(decoder["hiddenDim"], projector["hiddenDim"], projector["outDim"])
        self.text_projector = ProjectMLP(text["width"], projector["hiddenDim"], projector["outDim"])
        self.logit_scale = LogitScale()


def uses_weight_decay(name: str, p: torch.Tensor) -> bool:
    """src/train/optimizer.ts usesWeightDecay."""
    if p.dim() <= 1 or name.endswith(".bias"):
        return False
    own_and_module = ".".join(name.split(".")[-2:])
    return not any(keyword in own_and_module for keyword in NO_DECAY_KEYWORDS)


def load_weights(model: nn.Module, inputs: dict) -> None:
    """The TypeScript model's initial state dict, by name; only num_batches_tracked may be missing."""
    state = {k[len(PREFIX + "model."):]: v for k, v in inputs.items() if k.startswith(PREFIX + "model.")}
    own = model.state_dict()
    for name, value in state.items():  # buffers the reference computes itself must agree with ours
        if name.endswith("relative_position_index") and name in own and not torch.equal(own[name].float(), value):
            raise ValueError(f"{name}: the TypeScript model's index differs from the reference's")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"state dicts differ: missing {missing}, unexpected {unexpected}")


def batch_loss(model: SSeg, images, tokens, targets, settings: dict) -> dict:
    """sSegLoss (src/train/objective.ts) from the reference pieces: total, mask, contrastive, focal, dice."""
    features = dict(zip(STAGES, model.backbone(images)))
    _, layer_masks, embeddings = model.sem_seg_head(features)  # [L, B, Q, h, w], [L, B, Q, D]
    losses, mask_total, *_ = loss_ref.set_criterion(list(layer_masks), targets)
    image = F.normalize(model.img_projector(embeddings[-1].mean(1)), dim=-1)
    text = F.normalize(model.text_projector(model.text_encoder(tokens)), dim=-1)
    contrastive = loss_ref.contrastive_loss(image, text, model.logit_scale.logit_scale)
    weights = settings["objectiveWeights"]
    total = mask_total * weights["mask"] + contrastive * weights["contrastive"]
    return {"total": total, "mask": mask_total, "contrastive": contrastive, "focal": losses["loss_mask"],
            "dice": losses["loss_dice"]}


def check_settings(settings: dict) -> None:
    """The oracle's loss has its weights built in: they must be the ones the TypeScript side uses."""
    costs, weights = settings["matchCosts"], settings["maskLossWeights"]
    expected = (loss_ref.FOCAL_WEIGHT, loss_ref.DICE_WEIGHT)
    if (costs["focal"], costs["dice"]) != expected or (weights["mask"], weights["dice"]) != expected:
        raise ValueError(f"maskformer_loss_fixtures weighs focal/dice {expected}, the bench asks for {costs}, {weights}")


def prepare_step(name: str):
    """The harness's `prepare` of workload `name`: build, load, one untimed check step (dropout off), the timed step."""
    return lambda inputs: prepare(inputs, name)


def prepare(inputs: dict, name: str = "sseg_tiny_step"):
    settings = json.loads(inputs["sseg_step"])[name]
    check_settings(settings)
    model = SSeg(settings["config"])
    prefix = name + "."
    load_weights(model, {PREFIX + k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)})
    model.train()
    images = inputs[prefix + "images"].permute(0, 3, 1, 2).contiguous()  # the harness stores NHWC
    tokens = inputs[prefix + "tokens"].long()
    targets = list(inputs[prefix + "targets"].unbind(0))
    named = list(model.named_parameters())
    decay = [p for n, p in named if uses_weight_decay(n, p)]
    no_decay = [p for n, p in named if not uses_weight_decay(n, p)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings["lr"], betas=tuple(settings["betas"]), eps=settings["eps"])
    params = [p for _, p in named]

    def step(record: bool = False) -> dict:
        optimizer.zero_grad(set_to_none=True)
        parts = batch_loss(model, images, tokens, targets, settings)
        values = {k: v.item() for k, v in parts.items()}  # as the trainer reads them
        parts["total"].backward()
        outputs = {}
        if record:
            outputs = {f"loss.{k}": torch.tensor([v]) for k, v in values.items()}
            outputs.update({f"grad.{n}": p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                            for n, p in named})
        grad_norm = torch.nn.utils.clip_grad_norm_(params, settings["clipGradNorm"])
        if not (math.isfinite(grad_norm) and all(math.isfinite(v) for v in values.values())):
            raise ValueError(f"{name}: non-finite loss or gradient ({values})")
        if record:
            outputs["gradNorm"] = grad_norm.reshape(1)
        optimizer.step()
        return outputs

    # As in bench/sseg-step.ts: a first step with dropout and drop-path off (MultiheadAttention's own dropout too),
    # whose losses and gradients the harness compares with tfjs's; it also allocates AdamW's moments.
    stochastic = [m for m in model.modules() if isinstance(m, (nn.Dropout, DropPath, nn.MultiheadAttention))]
    for m in stochastic:
        m.eval()
    check = step(record=True)
    for m in stochastic:
        m.train()

    def run():
        step()
        return {}

    run.check = check
    run.info = {"parameters": sum(p.numel() for p in params), "decayTensors": len(decay),
                "noDecayTensors": len(no_decay)}
    print(f"[{name}] PyTorch model: {run.info['parameters']:,} parameters ({len(decay)} tensors with "
          f"weight decay, {len(no_decay)} without)", file=sys.stderr)
    return run


def main():
    parser = argparse.ArgumentParser(description="Time the PyTorch S-Seg tiny step on a harness inputs file.")
    parser.add_argument("--inputs", required=True, help="inputs.safetensors as bench/run.ts writes it")
    parser.add_argument("--workload", default="sseg_tiny_step", help="sseg_tiny_step | sseg_paper_step")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from torch_bench import load_safetensors, resident_memory_mb  # noqa: E402  (bench/, beside this file)

    run = prepare(load_safetensors(args.inputs), args.workload)
    for i in range(args.steps):
        start = time.perf_counter()
        run()
        print(f"step {i + 1}: {(time.perf_counter() - start) * 1e3:.0f} ms", file=sys.stderr)
    rss, peak = resident_memory_mb()
    print(json.dumps({"parameters": run.info["parameters"], "rssMb": rss, "peakRssMb": peak}))


if __name__ == "__main__":
    main()
