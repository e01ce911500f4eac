"""Make the initial weights of tgecnet-small's stripe stage with the column-pooling stripe expert
(``probe_expert_columns: [stripe]``) from a weights file whose stripe expert is a plain one
(session 7, e.g. ``runs/tg-hz2.safetensors``) or a column-pooling one that did not yet see the
classically destriped image (the first session-8 run, ``runs/tg-col1.safetensors``).

Every tensor is copied; the stripe expert's tensors that grew keep their trained part and start
the new part at zero: its last convolution, which now predicts three maps (local correction,
column-offset estimate, confidence logit) instead of one, and its input convolution, which now
also sees the classically destriped image (4 more pixel-unshuffled channels after the 8 of the
degraded and coarse images). The column gate's slope and offset start at 0 when missing. The
rebuilt expert therefore corrects exactly as the source did, except that its gate now also
opens on the column-offset amplitude (:class:`mmfuse.models.tgecnet.ProbeGatedExpert`).

Usage::

    PYTHONPATH=src .venv/bin/python scripts/tgecnet_columns_init.py runs/tg-col1.safetensors runs/tg-col2-init.safetensors
"""
from __future__ import annotations

import argparse

import torch

from mmfuse.models.base import load_weights_file, save_weights_file
from mmfuse.models.tgecnet import TGECNet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="weights with a plain or an earlier column-pooling stripe expert")
    ap.add_argument("dst", help="weights file to write")
    args = ap.parse_args()
    state, meta = load_weights_file(args.src)
    kw = dict(meta["arch_kwargs"])
    kw["probe_expert_columns"] = ["stripe"]
    net = TGECNet(**kw)
    own = net.state_dict()
    grown, fresh = [], []
    for k, v in own.items():
        if k not in state:
            fresh.append(k)
            continue
        src = state[k]
        if src.shape == v.shape:
            own[k] = src
        elif k.startswith("probe_experts.stripe.body.out.0.") and src.shape[1:] == v.shape[1:]:
            new = torch.zeros_like(v)  # PixelShuffle(2): output map m uses channels 4m..4m+3
            new[: src.shape[0]] = src
            own[k] = new
            grown.append(k)
        elif k == "probe_experts.stripe.body.inp.weight" and v.shape[1] == src.shape[1] + 4:
            new = torch.zeros_like(v)  # input: [unshuffle(degraded, coarse) 8, unshuffle(destriped) 4, features]
            new[:, :8] = src[:, :8]
            new[:, 12:] = src[:, 8:]
            own[k] = new
            grown.append(k)
        else:
            raise SystemExit(f"{k}: shape {tuple(src.shape)} in {args.src}, {tuple(v.shape)} in the rebuilt model")
    net.load_state_dict(own)
    save_weights_file(args.dst, net.state_dict(), {**meta, "arch_kwargs": kw})
    print(f"{args.dst}: {len(own) - len(grown) - len(fresh)} tensors copied, grown: {', '.join(grown)}; fresh: {', '.join(fresh)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
