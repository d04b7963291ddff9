"""PyTorch references for src/train/optimizer.ts: torch.optim.AdamW and timm's cosine learning-rate schedule.

Writes test/fixtures/train/adamw.safetensors:
  - four parameters in two groups, as torch users write them: "decay" (a [4, 3] and a [2, 3, 2] weight, weight
    decay 0.1) and "no_decay" (a [4] bias and a 0-d logit scale, weight decay 0);
  - five AdamW steps (betas (0.9, 0.999), eps 1e-8), step k at the learning rate of config.stepSchedule at k, with
    the gradients of a small loss at the current parameters: init.<name>, step<k>.grad.<name> and the parameters
    after the step, step<k>.param.<name>; after the last step torch's state (exp_avg, exp_avg_sq, step);
  - config.schedules: learning-rate sequences from timm's CosineLRScheduler._get_lr (copied below) for two
    settings, one warming up from 0 and one from GroupViT's warmup_lr, each read past the end of the cosine.

    /usr/bin/python3 tools/oracles/adamw_fixtures.py
"""
import math

import torch

from common import FIXTURES, save_safetensors

torch.manual_seed(0)


def timm_cosine_lr(t, base_lr, t_initial, lr_min, warmup_t, warmup_lr_init):
    """timm/scheduler/cosine_lr.py CosineLRScheduler._get_lr (huggingface/pytorch-image-models, Apache-2.0,
    Copyright 2021 Ross Wightman) for one parameter group with the settings GroupViT uses (utils/lr_scheduler.py):
    cycle_mul 1, cycle_decay 1, cycle_limit 1, warmup_prefix False, k_decay 1."""
    if t < warmup_t:
        return warmup_lr_init + t * (base_lr - warmup_lr_init) / warmup_t
    i = t // t_initial
    t_curr = t - t_initial * i
    if i < 1:
        return lr_min + 0.5 * (base_lr - lr_min) * (1 + math.cos(math.pi * t_curr / t_initial))
    return lr_min


STEP_SCHEDULE = {"warmupSteps": 2, "totalSteps": 5, "baseLr": 0.1, "minLr": 0.01, "warmupStartLr": 0.02}
SCHEDULES = [
    {"warmupSteps": 3, "totalSteps": 12, "baseLr": 5e-4, "minLr": 4e-5},
    {"warmupSteps": 4, "totalSteps": 10, "baseLr": 1.6e-3, "minLr": 4e-5, "warmupStartLr": 4e-6},
]


def lr_at(step, s):
    return timm_cosine_lr(step, s["baseLr"], s["totalSteps"], s["minLr"], s["warmupSteps"], s.get("warmupStartLr", 0))


def main():
    params = {
        "proj.weight": torch.randn(4, 3),
        "blocks.0.conv.weight": torch.randn(2, 3, 2),
        "proj.bias": torch.randn(4) * 0.1,
        "logit_scale": torch.tensor(math.log(1 / 0.07)),
    }
    params = {k: torch.nn.Parameter(v) for k, v in params.items()}
    groups = [
        {"params": [params["proj.weight"], params["blocks.0.conv.weight"]], "weight_decay": 0.1},
        {"params": [params["proj.bias"], params["logit_scale"]], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=STEP_SCHEDULE["baseLr"], betas=(0.9, 0.999), eps=1e-8)
    tensors = {f"init.{k}": p.detach().clone() for k, p in params.items()}
    for step in range(5):
        lr = lr_at(step, STEP_SCHEDULE)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = torch.randn(5, 3)
        hidden = torch.tanh(x @ params["proj.weight"].t() + params["proj.bias"])  # [5, 4]
        conv = params["blocks.0.conv.weight"]
        loss = (hidden.sum(0)[:2, None, None] * conv).pow(2).sum() + params["logit_scale"].exp() * hidden.mean()
        optimizer.zero_grad()
        loss.backward()
        for k, p in params.items():
            tensors[f"step{step}.grad.{k}"] = p.grad.clone()
        optimizer.step()
        for k, p in params.items():
            tensors[f"step{step}.param.{k}"] = p.detach().clone()
        print(f"step {step}: lr {lr:.6f}, loss {loss.item():.4f}")
    for k, p in params.items():
        state = optimizer.state[p]
        tensors[f"state.{k}.exp_avg"] = state["exp_avg"]
        tensors[f"state.{k}.exp_avg_sq"] = state["exp_avg_sq"]
        tensors[f"state.{k}.step"] = state["step"].reshape(1)
    schedules = [{"schedule": s, "steps": list(range(s["totalSteps"] + 3)),
                  "lr": [lr_at(t, s) for t in range(s["totalSteps"] + 3)]} for s in SCHEDULES + [STEP_SCHEDULE]]
    config = {"betas": [0.9, 0.999], "eps": 1e-8, "weightDecay": 0.1, "steps": 5, "stepSchedule": STEP_SCHEDULE,
              "groups": {"decay": ["proj.weight", "blocks.0.conv.weight"], "no_decay": ["proj.bias", "logit_scale"]},
              "schedules": schedules}
    path = FIXTURES / "train" / "adamw.safetensors"
    save_safetensors(path, tensors, {"config": config})
    print(f"{path.name}: {path.stat().st_size / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
