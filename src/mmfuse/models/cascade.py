"""Restore-then-fuse cascades: ``cascade:<restorer>+...+<fuser>`` methods.

The papers compare all-in-one fusion networks with cascades that first restore each degraded
input with an all-in-one restorer and then fuse (TG-ECNet, Sun et al., ICML 2025, §4.3: AdaIR
+ fusion network). mmfuse's cascades use the training-free restorers of :mod:`mmfuse.restore`
and any registered fuser:

* ``cascade:denoise+gff``: denoise (the visible image), then fuse with GFF;
* ``cascade:destripe+denoise@ir+gff``: restorers apply to their default modality (``destripe``
  to infrared, the others to visible); ``name@ir`` / ``name@vis`` overrides it; explicit
  restorers run in the order written;
* ``cascade:auto+gff``: the restorers matching the pair's known degradations, in
  :data:`mmfuse.restore.RESTORE_ORDER`.

How ``auto`` learns the degradations: the method has :meth:`CascadeMethod.set_context`. The
benchmark runner (:mod:`mmfuse.bench`) calls it before every pair with the
:class:`~mmfuse.restore.DegradationContext` read from the benchmark's ``manifest.json`` (or
parsed from the setting name). Without a context (e.g. ``mmfuse fuse -m cascade:auto+gff``) the
degradations are estimated from the images (:func:`mmfuse.restore.estimate_context`: noise,
stripes and low light only).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mmfuse.errors import InputError
from mmfuse.io import crop_to, pad_to_multiple
from mmfuse.models.base import FusionMethod, prepare_pair
from mmfuse.models.registry import MethodSpec, get_spec, register_family

if TYPE_CHECKING:
    from mmfuse.restore import DegradationContext

# mmfuse.restore is imported inside the functions: its dehaze/lowlight modules use
# mmfuse.models.classical.guided_filter, so a module-level import here would be circular.

__all__ = ["CascadeMethod", "parse_cascade_name", "PREFIX"]

PREFIX = "cascade:"

Step = tuple[str, Literal["vis", "ir"]]


def parse_cascade_name(name: str) -> tuple[list[Step] | Literal["auto"], str]:
    """Split ``cascade:<r1>+<r2>+...+<fuser>`` into restorer steps and the fuser name.

    Args:
        name: full method name.

    Returns:
        ``(steps, fuser)``: ``steps`` is ``"auto"`` or a list of ``(restorer, modality)``.

    Raises:
        InputError: no restorer, unknown restorer, bad ``@modality``, ``auto`` mixed with
            explicit restorers, or a cascade used as the fuser.
    """
    from mmfuse.restore.registry import RESTORERS, get_restorer

    if not name.startswith(PREFIX):
        raise InputError(f"{name!r}: a cascade name starts with {PREFIX!r}")
    tokens = [t.strip() for t in name[len(PREFIX):].split("+")]
    if len(tokens) < 2 or not all(tokens):
        raise InputError(f"{name!r}: expected cascade:<restorer>+...+<fuser>, e.g. cascade:auto+gff or cascade:denoise+gff")
    *restorers, fuser = tokens
    if fuser.startswith(PREFIX) or fuser in RESTORERS or fuser == "auto":
        raise InputError(f"{name!r}: the last part must be a fusion method (e.g. gff), got {fuser!r}")
    if "auto" in restorers:
        if len(restorers) > 1:
            raise InputError(f"{name!r}: 'auto' chooses the restorers itself and cannot be combined with others")
        return "auto", fuser
    steps: list[Step] = []
    for tok in restorers:
        base, _, mod = tok.partition("@")
        try:
            restorer = get_restorer(base)
        except InputError as err:
            raise InputError(f"{name!r}: {err}") from None
        if mod and mod not in ("vis", "ir"):
            raise InputError(f"{name!r}: {tok!r}: modality must be @vis or @ir")
        steps.append((restorer.name, mod or restorer.modality))  # type: ignore[arg-type]
    return steps, fuser


class CascadeMethod(FusionMethod):
    """Restore the infrared and visible images with classical restorers, then fuse them.

    Attributes:
        steps: ``"auto"`` or the explicit ``(restorer, modality)`` list.
        fuser: the fusion method applied to the restored pair.
        context: the degradation context used by ``auto`` (``None``: estimated per pair).
    """

    kind = "cascade"
    min_size = 8  # sides below this are padded (reflect) for the restorers' estimators, then cropped back

    def __init__(self, name: str, steps: list[Step] | Literal["auto"], fuser: FusionMethod) -> None:
        self.name = name
        self.steps = steps
        self.fuser = fuser
        self.output = fuser.output
        self.context: DegradationContext | None = None

    def set_context(self, context: DegradationContext | None) -> None:
        """Declare the degradations of the next pair(s) for ``auto``; ``None`` re-enables estimation.

        The benchmark runner calls this before every pair (duck-typed: any method with a
        ``set_context`` receives the pair's :class:`~mmfuse.restore.DegradationContext`).
        """
        from mmfuse.restore.context import DegradationContext

        if context is not None and not isinstance(context, DegradationContext):
            raise TypeError(f"set_context expects a DegradationContext or None, got {type(context).__name__}")
        self.context = context

    def plan(self, ir: np.ndarray, vis: np.ndarray) -> tuple[list[Step], DegradationContext | None]:
        """The restorer steps for this pair (and the context ``auto`` used)."""
        from mmfuse.restore import estimate_context, plan_restorers

        if self.steps != "auto":
            return list(self.steps), None
        ctx = self.context if self.context is not None else estimate_context(ir, vis)
        steps: list[Step] = [(n, "ir") for n in plan_restorers(ctx.ir)]
        steps += [(n, "vis") for n in plan_restorers(ctx.vis)]
        return steps, ctx

    def restore(self, ir: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Apply the restorers.

        Args:
            ir: ``(H, W)`` float32 infrared image in ``[0, 1]``.
            vis: ``(H, W)`` or ``(H, W, 3)`` float32 visible image in ``[0, 1]``.

        Returns:
            ``(ir_restored, vis_restored, info)`` with ``info = {"restorers": [...], "context": ...}``.
        """
        from mmfuse.restore import get_restorer

        steps, ctx = self.plan(ir, vis)
        for name, modality in steps:
            fn = get_restorer(name).fn
            if modality == "ir":
                ir = fn(ir)
            else:
                vis = fn(vis)
        info: dict[str, Any] = {"restorers": [f"{n}@{m}" for n, m in steps]}
        if ctx is not None:
            info["context"] = ctx.as_dict()
        return ir, vis, info

    def fuse(
        self,
        ir: np.ndarray,
        vis: np.ndarray,
        *,
        resize: bool = False,
        gray: bool = False,
        return_info: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
        """Restore both images, then fuse them with :attr:`fuser` (see :meth:`FusionMethod.fuse`).

        Overrides :meth:`FusionMethod.fuse` because the restorers work on the full visible image
        (RGB when colour) before the fuser takes its luminance; padding to the fuser's size
        multiple and colour handling are the fuser's own. A side shorter than :attr:`min_size`
        is padded first (the noise, blur and haze estimators need a few pixels) and the result
        cropped back.
        """
        ir, vis = prepare_pair(ir, vis, resize=resize)
        size = ir.shape[:2]
        ir, vis = (pad_to_multiple(x, 1, min_size=self.min_size)[0] for x in (ir, vis))  # no-op from min_size up
        ir_r, vis_r, rinfo = self.restore(ir, vis)
        out, finfo = self.fuser.fuse(ir_r, vis_r, gray=gray, return_info=True)
        out = crop_to(out, size)
        info = {"method": self.name, **rinfo, "fuser": finfo}
        return (out, info) if return_info else out


def _resolve(name: str) -> MethodSpec:
    steps, fuser_name = parse_cascade_name(name)
    fuser_spec = get_spec(fuser_name)
    if fuser_spec.kind == "cascade":
        raise InputError(f"{name!r}: the fuser of a cascade cannot itself be a cascade")
    chain = "auto (per-pair degradations)" if steps == "auto" else " -> ".join(f"{n}@{m}" for n, m in steps)

    def factory(device: str = "cpu") -> FusionMethod:
        from mmfuse.models.registry import load

        return CascadeMethod(name, steps, load(fuser_name, device=device))

    return MethodSpec(
        name=name,
        kind="cascade",
        description=f"restore ({chain}), then fuse with {fuser_name}",
        factory=factory,
        paper="restore-then-fuse baseline (TG-ECNet, ICML 2025, sec. 4.3)",
    )


register_family(
    PREFIX,
    _resolve,
    help="cascade:<restorer>+...+<fuser>: classical restorers (denoise, destripe, deblur, dehaze, lowlight, derain, "
    "desnow; 'auto' = those matching the pair's degradations) then a fuser, e.g. cascade:auto+gff",
)
