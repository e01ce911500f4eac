"""Rebuild a TG-ECNet weights file with changed architecture options, growing its probe-gated
experts so that the rebuilt network computes exactly what the source did
(:func:`mmfuse.models.tgecnet.grow_state_dict`: new input/output maps start at zero weight,
parameters the source lacks keep their initial values).

Used for (docs/models/tgecnet.md, "How the shipped weights were made"):

* the column-pooling stripe expert (session 8): ``--set probe_expert_columns=[stripe]`` on a
  weights file with a plain stripe expert, or with the first column-pooling version that did not
  yet see the classically destriped image (its input grows by that image, its output by the
  column-offset and confidence maps);
* the defocus expert's deconvolution bank (session 9): ``--set probe_expert_deconv_bank=[0.25,4.0]``
  (its input grows by one deconvolved image per multiplier).

Usage::

    PYTHONPATH=src .venv/bin/python scripts/tgecnet_grow.py SRC.safetensors DST.safetensors --set probe_expert_deconv_bank=[0.25,4.0]
"""
from __future__ import annotations

import argparse

import yaml

from mmfuse.models.base import load_weights_file, save_weights_file
from mmfuse.models.tgecnet import TGECNet, grow_state_dict


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="TG-ECNet weights file")
    ap.add_argument("dst", help="weights file to write")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="architecture option (YAML value), repeatable")
    args = ap.parse_args()
    state, meta = load_weights_file(args.src)
    kw = dict(meta["arch_kwargs"])
    for item in args.sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        kw[key] = yaml.safe_load(value)
    net = TGECNet(**kw)
    own, grown, fresh = grow_state_dict(state, net)
    net.load_state_dict(own)
    save_weights_file(args.dst, net.state_dict(), {**meta, "arch_kwargs": kw})
    print(f"{args.dst}: {len(own) - len(grown) - len(fresh)} tensors copied, grown: {', '.join(grown) or '-'}; fresh: {', '.join(fresh) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
