"""What degradations a pair carries: from a benchmark manifest, a setting name, or a blind estimate.

The ``auto`` restorer chain of the cascade methods (:mod:`mmfuse.models.cascade`) needs to know
which degradations are present, as the papers' "all-in-one restorer + fusion" baselines do.
A :class:`DegradationContext` lists the :mod:`mmfuse.degrade` operator names applied to each
modality. It comes from, in order of preference:

1. the benchmark's ``manifest.json`` (:func:`context_from_manifest`): each file's operator
   chain as recorded by :func:`mmfuse.degrade.build_benchmark`;
2. the setting name (:func:`context_from_setting_name`): ``noise50+haze+stripe`` parsed as
   ``+``-joined step tokens of :data:`mmfuse.degrade.BUILTIN_STEPS`; infrared-only operators
   (stripes, thermal noise, low contrast) are assigned to the infrared image, all others to
   the visible image;
3. a blind estimate from the images (:func:`estimate_context`), used when neither is known
   (e.g. plain ``mmfuse fuse``). It detects only what simple statistics can detect reliably:
   Gaussian noise (wavelet noise estimate above 5/255), infrared stripes (column-offset
   amplitude above 2.5/255) and low light (mean luminance below 0.2). Haze, blur, rain and snow
   are **not** detected blindly: the dark-channel statistic is high on RoadScene's clean,
   low-contrast visible images, and blur has no reliable single-image threshold.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmfuse.restore._common import luminance

__all__ = [
    "DegradationContext",
    "IR_OPERATORS",
    "NOISE_THRESHOLD",
    "STRIPE_THRESHOLD",
    "LOWLIGHT_THRESHOLD",
    "context_from_manifest",
    "context_from_setting_name",
    "estimate_context",
]

#: Operators that degrade the infrared image when only a setting name is known.
IR_OPERATORS: frozenset[str] = frozenset({"stripe_noise", "thermal_noise", "low_contrast"})
#: Blind detection thresholds (``[0, 1]`` scale), calibrated on 60 clean RoadScene *train*
#: pairs: clean visible noise estimates are 0.2–2.1/255, σ = 15 noise gives ≈ 13.7/255; clean
#: infrared stripe amplitudes are 0.03–2.9/255 (median 0.7), column std 3/255 gives ≥ 2.9/255;
#: clean mean luminance is 0.47–0.78.
NOISE_THRESHOLD = 5.0 / 255.0
STRIPE_THRESHOLD = 2.5 / 255.0
LOWLIGHT_THRESHOLD = 0.2


@dataclass(frozen=True)
class DegradationContext:
    """Degradation operators known (or estimated) for one infrared/visible pair.

    Attributes:
        vis: :mod:`mmfuse.degrade` operator names applied to the visible image, in order.
        ir: operator names applied to the infrared image, in order.
        source: ``"manifest"``, ``"setting"``, ``"estimated"`` or ``"given"``.
    """

    vis: tuple[str, ...] = ()
    ir: tuple[str, ...] = ()
    source: str = "given"

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for info dicts and reports)."""
        return {"vis": list(self.vis), "ir": list(self.ir), "source": self.source}


def _ops(records: Any) -> tuple[str, ...]:
    if not records:
        return ()
    return tuple(str(r["op"]) for r in records if isinstance(r, Mapping) and "op" in r)


def context_from_manifest(manifest: Mapping[str, Any], setting: str, name: str) -> DegradationContext | None:
    """The context of one benchmark file, read from a ``manifest.json`` of :func:`mmfuse.degrade.build_benchmark`.

    The per-file records (``items[*].vis`` / ``items[*].ir``, lists of ``{"step", "op",
    "params"}``) are used; if the file is not listed, the setting's chains and step table
    (``settings[*]``) are used instead.

    Args:
        manifest: parsed ``manifest.json``.
        setting: setting name (folder name in the benchmark).
        name: image stem.

    Returns:
        The context, or ``None`` when the manifest knows neither the file nor the setting.
    """
    for item in manifest.get("items", ()) or ():
        if isinstance(item, Mapping) and item.get("setting") == setting and item.get("name") == name:
            return DegradationContext(_ops(item.get("vis")), _ops(item.get("ir")), "manifest")
    for entry in manifest.get("settings", ()) or ():
        if isinstance(entry, Mapping) and entry.get("name") == setting:
            steps = entry.get("steps", {}) or {}

            def chain_ops(chain: str) -> tuple[str, ...]:
                tokens = [t.strip() for t in (chain or "").split("+") if t.strip()]
                return tuple(str(steps[t]["op"]) for t in tokens if t in steps and "op" in steps[t])

            return DegradationContext(chain_ops(entry.get("vis_chain", "")), chain_ops(entry.get("ir_chain", "")), "manifest")
    return None


def context_from_setting_name(setting: str) -> DegradationContext | None:
    """Parse a setting name such as ``noise50+haze+defocus+stripe`` into a context.

    Tokens are step names of :data:`mmfuse.degrade.BUILTIN_STEPS` (plus ``noise<σ>``,
    ``sr<k>``, ``jpeg<q>``) or operator names of :data:`mmfuse.degrade.OPERATORS`
    (``defocus_blur``); ``clean`` and ``none`` mean no degradation. Operators in
    :data:`IR_OPERATORS` go to the infrared image, the others to the visible image.

    Returns:
        The context, or ``None`` if a token is unknown.
    """
    from mmfuse.degrade.registry import OPERATORS
    from mmfuse.degrade.steps import parse_chain
    from mmfuse.errors import InputError

    tokens = [t.strip().lower() for t in setting.split("+") if t.strip()]
    vis: list[str] = []
    ir: list[str] = []
    for tok in tokens:
        if tok in ("clean", "none"):
            continue
        if tok in OPERATORS:
            op = tok
        else:
            try:
                (step,) = parse_chain(tok)
            except (InputError, ValueError):
                return None
            op = step.op
        (ir if op in IR_OPERATORS else vis).append(op)
    return DegradationContext(tuple(vis), tuple(ir), "setting")


def estimate_context(ir: np.ndarray, vis: np.ndarray) -> DegradationContext:
    """Blindly estimate the degradations of a pair from simple image statistics.

    Visible image: ``gaussian_noise`` if :func:`mmfuse.restore.denoise.estimate_noise_sigma`
    exceeds :data:`NOISE_THRESHOLD`; ``low_light`` if the mean luminance is below
    :data:`LOWLIGHT_THRESHOLD`. Infrared image: ``stripe_noise`` if its noise-corrected
    :func:`mmfuse.restore.destripe.stripe_amplitude` exceeds :data:`STRIPE_THRESHOLD` (white
    noise alone raises the uncorrected amplitude above it from σ ≈ 25/255 on, so that strongly
    noisy infrared images were taken for striped ones and not denoised); otherwise
    ``gaussian_noise`` if its noise estimate exceeds :data:`NOISE_THRESHOLD`. Haze, blur, rain
    and snow are not estimated (see the module docstring).

    Args:
        ir: ``(H, W)`` infrared image, float32 in ``[0, 1]``.
        vis: ``(H, W)`` or ``(H, W, 3)`` visible image, float32 in ``[0, 1]``.
    """
    from mmfuse.restore.denoise import estimate_noise_sigma
    from mmfuse.restore.destripe import stripe_amplitude

    vis_ops: list[str] = []
    ir_ops: list[str] = []
    if float(np.mean(luminance(vis))) < LOWLIGHT_THRESHOLD:
        vis_ops.append("low_light")
    if estimate_noise_sigma(vis) > NOISE_THRESHOLD:
        vis_ops.append("gaussian_noise")
    if stripe_amplitude(ir, noise_corrected=True) > STRIPE_THRESHOLD:
        ir_ops.append("stripe_noise")
    elif estimate_noise_sigma(ir) > NOISE_THRESHOLD:
        ir_ops.append("gaussian_noise")
    return DegradationContext(tuple(vis_ops), tuple(ir_ops), "estimated")


