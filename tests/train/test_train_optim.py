"""Learning-rate schedule, parameter freezing, optimizer groups."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmfuse.errors import ConfigError
from mmfuse.train.config import StageConfig
from mmfuse.train.optim import apply_freeze, build_optimizer, build_scheduler, lr_factor, set_frozen_eval


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(0.5))
        self.head = nn.Linear(2, 1)
        self.norm = nn.LayerNorm(2)


def _stage(**kw) -> StageConfig:
    return StageConfig(**{"name": "s", "steps": 10, **kw})


def test_warmup_then_cosine_to_min_lr():
    st = _stage(lr=1.0, min_lr=0.1, warmup_steps=4, steps=14)
    f = lr_factor(st)
    assert [f(t) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # half-way
    assert f(13) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    assert f(14) == pytest.approx(0.1)  # never below min_lr
    assert all(f(t) >= f(t + 1) for t in range(4, 20))  # monotone after warm-up
    assert [lr_factor(_stage(schedule="constant", warmup_steps=2))(t) for t in (0, 1, 5)] == [0.5, 1.0, 1.0]


def test_scheduler_drives_the_optimizer():
    net = _Net()
    st = _stage(lr=0.01, warmup_steps=2, steps=5)
    opt = build_optimizer(list(net.named_parameters()), st)
    sched = build_scheduler(opt, st)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    f = lr_factor(st)
    assert seen == pytest.approx([0.01 * f(t) for t in range(5)])


def test_optimizer_groups_and_kinds():
    net = _Net()
    opt = build_optimizer(list(net.named_parameters()), _stage(weight_decay=0.05))
    assert isinstance(opt, torch.optim.AdamW)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim < 2 for p in plain["params"])
    opt = build_optimizer(list(net.named_parameters()), _stage(optimizer="adam", decay_1d=True, weight_decay=0.1, betas=(0.8, 0.9)))
    assert type(opt) is torch.optim.Adam and len(opt.param_groups) == 1 and opt.defaults["betas"] == (0.8, 0.9)


def test_freeze_and_trainable_prefixes():
    net = _Net()
    names = [n for n, _ in apply_freeze(net, _stage(freeze=["encoder."]))]
    assert names == ["head.weight", "head.bias", "norm.weight", "norm.bias"]
    assert not net.encoder[0].weight.requires_grad
    names = [n for n, _ in apply_freeze(net, _stage(trainable=["head", "encoder"], freeze=["head.bias"]))]
    assert names == ["encoder.0.weight", "encoder.0.bias", "head.weight"]
    assert net.norm.weight.requires_grad is False
    with pytest.raises(ConfigError, match=r"freeze: prefix 'encodr' matches no parameter \(top-level modules: encoder, head, norm\)"):
        apply_freeze(net, _stage(freeze=["encodr"]))
    with pytest.raises(ConfigError, match="nothing to train"):
        apply_freeze(net, _stage(freeze=["encoder", "head", "norm"]))


def test_frozen_modules_go_to_eval_mode():
    net = _Net()
    apply_freeze(net, _stage(freeze=["encoder"]))
    net.train()
    switched = set_frozen_eval(net)
    assert switched == ["encoder"]
    assert not net.encoder.training and not net.encoder[1].training  # dropout of a frozen part is off
    assert net.training and net.head.training
