"""``python -m mmfuse.train CONFIG [--set K=V ...] [--resume RUN] [--out RUN]``.

The entry point for ``torchrun --nproc_per_node N -m mmfuse.train CONFIG`` (every process runs
it; rank 0 prints the summary). Errors print one line ``error: ...`` and exit with 2.
"""
from __future__ import annotations

import argparse
import sys

from mmfuse.errors import MMFuseError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train, print a one-line summary; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mmfuse.train", description="Train a model from a YAML config (single process or under torchrun).")
    parser.add_argument("config", nargs="?", help="YAML config file (optional with --resume)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder (default: the config's output_dir)")
    args = parser.parse_args(argv)
    if args.config is None and args.resume is None:
        parser.error("give a CONFIG file or --resume RUN_DIR")
    from mmfuse.train.engine import train

    try:
        result = train(args.config, args.overrides, resume=args.resume, out=args.out)
    except MMFuseError as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        loss = result.last_losses.get("total")
        print(
            f"trained {result.step}/{result.total_steps} steps in {result.seconds:.1f} s "
            f"({result.samples_per_s:.1f} samples/s); final loss {loss if loss is None else f'{loss:.4g}'}; run: {result.run_dir}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
