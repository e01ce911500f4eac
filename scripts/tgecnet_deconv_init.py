"""Make the initial weights of the session-6 `experts` stage of tgecnet-small: a weights file of the
model *without* the deconvolving defocus expert (``probe_expert_deconv: []``), rebuilt *with*
it; every other tensor is copied (gates, stripe expert, the whole network), the defocus expert's
conv block (its input convolution now also sees the deconvolved image: 16 instead of 12 input
channels) and the Wiener λ start fresh, and the gain of the deconvolved image is set to 1 (the
block's last convolution is zero, so the expert's correction starts as ``Wiener − coarse``; a
fresh model has gain 0).

Usage::

    PYTHONPATH=src .venv/bin/python scripts/tgecnet_deconv_init.py runs/tgecnet-small-s5.safetensors runs/tg-deconv0-init.safetensors

(runs/tg-deconv0-init.safetensors of docs/models/tgecnet.md was made by an unseeded scratch
version of this script; ``--seed`` makes the fresh layer reproducible.)
"""
from __future__ import annotations

import argparse

import torch

from mmfuse.models.base import load_weights_file, save_weights_file
from mmfuse.models.tgecnet import TGECNet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="weights without the deconvolving defocus expert")
    ap.add_argument("dst", help="weights file to write")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    state, meta = load_weights_file(args.src)
    kw = dict(meta["arch_kwargs"])
    kw["probe_expert_deconv"] = ["defocus"]
    torch.manual_seed(args.seed)
    net = TGECNet(**kw)
    own = net.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and not k.startswith("probe_experts.defocus.body.")}
    fresh = sorted(set(own) - set(keep))
    net.load_state_dict(keep, strict=False)
    expert = net.probe_experts["defocus"]
    with torch.no_grad():
        expert.deconv_gain.fill_(1.0 / expert.GATE_GAIN)
    save_weights_file(args.dst, net.state_dict(), {**meta, "arch_kwargs": kw})
    print(f"{args.dst}: {len(keep)} tensors copied, fresh: {', '.join(fresh)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
