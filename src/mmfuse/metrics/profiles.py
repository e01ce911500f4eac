"""Convention profiles: which toolbox's numbers a metric computation reproduces.

Published tables disagree less because of formulas than because of conventions: how a colour
image becomes grey, whether colour is evaluated per channel, the value range, how the two
sources are combined (SSIM summed or averaged), the log base of MI, and which of several
definitions hides behind a name (PSNR's peak, VIFB's "RMSE", Tang's "MS_SSIM"). A
:class:`Profile` fixes all of them. Every image is first mapped to 8-bit grey levels (0..255,
see :func:`mmfuse.metrics.evaluate`), then converted as the profile says, then each metric
function is called with the profile's keyword options on the 0–255 scale.

Profiles (see ``docs/metrics.md`` for the verification numbers):

``vifb``
    VIFB (Zhang et al., CVPRW 2020), MATLAB ``metrics/metrics*.m``: images as read; a colour
    fused image is evaluated per RGB channel (a grey source is compared with every channel)
    and the channel scores averaged; SF uses the R|G|B planes side by side (VIFB's
    ``size(fused)`` quirk); MI in nats after min–max stretching; SSIM summed over sources;
    VIFB's own RMSE and PSNR; Qabf on ``255·x``.
``tang``
    Tang's MATLAB toolbox (Linfeng-Tang/Evaluation-for-Image-Fusion, used by SeAFusion-era
    papers and, by its column names, TG-ECNet): MATLAB ``rgb2gray`` on uint8 (rounded half
    away from zero); MI in bits with the toolbox's 254/255 joint-bin saturation; MSE on
    [0, 1]; PSNR = standard + 48.1308 dB; SSIM = ½(SSIM(F,A)+SSIM(F,B)) of MATLAB's ``ssim``
    with its double-class dynamic range 1; "MS_SSIM" of the toolbox = :func:`MEF_SSIM`; Nabf
    computed with the toolbox's argument order (infrared in the fused slot).
``cddfuse``
    CDDFuse's ``utils/Evaluator.py`` (copied by EMMA and many repositories): OpenCV
    ``BGR2GRAY`` on float32 then ``np.round``; MI in nats; MSE on 0–255; PSNR with peak
    ``max(F)``; AG divided by MN; SSIM of scikit-image 0.19 (7×7 uniform window, data range 2)
    summed over sources.
``mmfuse`` (default)
    Our documented convention, the standard textbook definitions: BT.601 luma rounded to 8-bit
    levels; MI and entropies in bits, exact histograms; SF and AG as Tang/Eskicioglu and Cui;
    SSIM and MS-SSIM per Wang et al. (L = 255) averaged over the two sources; VIF summed
    (as every toolbox that reports it); MSE on 0–255, RMSE = sqrt(MSE), standard PSNR;
    Kumar's modified Nabf with the intended argument order.

A metric that a profile's toolbox has but whose numbers cannot be reproduced is listed in
``Profile.unsupported`` with the reason; metrics the toolbox does not define at all are
computed with the ``mmfuse`` options (listed in ``Profile.borrowed``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

import numpy as np

from mmfuse.errors import InputError

__all__ = ["Profile", "PROFILES", "get_profile", "METRICS", "NO_REFERENCE_METRICS", "METRIC_DIRECTION"]

METRICS: tuple[str, ...] = (
    "EN",
    "SD",
    "SF",
    "AG",
    "EI",
    "CE",
    "MI",
    "NMI",
    "FMI_pixel",
    "FMI_dct",
    "FMI_w",
    "SCD",
    "VIF",
    "Qabf",
    "Nabf",
    "Nabf_petrovic",
    "Qcb",
    "Qcv",
    "SSIM",
    "MS_SSIM",
    "MEF_SSIM",
    "CC",
    "MSE",
    "RMSE",
    "PSNR",
)
"""All metric names, in the column order used for CSV files."""

NO_REFERENCE_METRICS: frozenset[str] = frozenset({"EN", "SD", "SF", "AG", "EI"})
"""Metrics of the fused image alone; all others compare the fused image with the sources."""

METRIC_DIRECTION: Mapping[str, int] = MappingProxyType({
    "EN": 1, "SD": 1, "SF": 1, "AG": 1, "EI": 1,
    "MI": 1, "NMI": 1, "FMI": 1, "FMI_pixel": 1, "FMI_dct": 1, "FMI_w": 1,
    "CE": -1,
    "SCD": 1, "VIF": 1, "Qabf": 1, "Qcb": 1, "Qcv": -1,
    "Nabf": -1, "Nabf_petrovic": -1,
    "SSIM": 1, "MS_SSIM": 1, "MEF_SSIM": 1,
    "CC": 1, "MSE": -1, "RMSE": -1, "PSNR": 1,
})
"""``+1``: higher is better, ``-1``: lower is better, for every metric (``../shared/specs/metrics.md``)."""

GreyConversion = Literal["matlab_uint8", "matlab_double", "opencv_float32", "bt601"]
ColourHandling = Literal["grey", "per_channel"]


def _freeze(d: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in d.items()})


@dataclass(frozen=True)
class Profile:
    """A complete set of metric conventions.

    Attributes:
        name: profile name (``vifb``, ``tang``, ``cddfuse``, ``mmfuse``).
        description: one line: what the profile reproduces.
        grey: how a 3-channel image becomes grey: ``"matlab_uint8"`` (MATLAB ``rgb2gray`` on
            uint8: weights 0.298936021293775/0.587043074451121/0.114020904255103, rounded half
            away from zero), ``"matlab_double"`` (same weights, no rounding), ``"opencv_float32"``
            (OpenCV ``BGR2GRAY`` on float32, then ``np.round``), ``"bt601"`` (0.299/0.587/0.114,
            rounded half to even).
        colour: ``"grey"`` (every image converted to grey first) or ``"per_channel"`` (VIFB: a
            colour fused image is scored per RGB channel and the scores averaged).
        log_base: base of the logarithm of MI (2 = bits, e = nats). EN and the other
            entropy-based metrics are always in bits, as in all toolboxes.
        aggregation: how SSIM-type scores of the two sources are combined (``"sum"`` or
            ``"mean"``).
        options: keyword options passed to each metric function.
        argument_order: metrics called with a permuted (fused, a, b): a string of three
            letters from ``f`` (fused), ``i`` (infrared), ``v`` (visible); default ``"fiv"``.
        sf_concatenate_channels: VIFB's SF of a colour image: the R, G and B planes side by side.
        default_metrics: metrics computed when none are requested (the toolbox's own set).
        unsupported: metrics of the toolbox that cannot be reproduced, with the reason.
        borrowed: metrics the toolbox does not define; computed with the ``mmfuse`` options.
    """

    name: str
    description: str
    grey: GreyConversion
    colour: ColourHandling
    log_base: float
    aggregation: Literal["sum", "mean"]
    options: Mapping[str, Mapping[str, Any]]
    default_metrics: tuple[str, ...]
    argument_order: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    sf_concatenate_channels: bool = False
    unsupported: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    borrowed: tuple[str, ...] = ()

    def supported(self) -> tuple[str, ...]:
        """Metric names this profile computes, in :data:`METRICS` order."""
        return tuple(m for m in METRICS if m not in self.unsupported)

    def order(self, metric: str) -> str:
        """Argument order of ``metric`` (``"fiv"`` unless overridden)."""
        return self.argument_order.get(metric, "fiv")


_MMFUSE_OPTIONS: dict[str, dict[str, Any]] = {
    "EN": {"quantization": "round"},
    "SD": {},
    "SF": {"normalization": "mean"},
    "AG": {"divisor": "(M-1)(N-1)"},
    "EI": {},
    "CE": {"quantization": "round"},
    "MI": {"variant": "exact", "base": 2.0},
    "NMI": {},
    "FMI_pixel": {},
    "FMI_dct": {},
    "FMI_w": {},
    "SCD": {},
    "VIF": {"aggregate": "sum"},
    "Qabf": {"gradient_scale": 1.0},
    "Nabf": {"w_min": 0.001},
    "Nabf_petrovic": {"w_min": 0.001},
    "Qcb": {},
    "Qcv": {},
    "SSIM": {"variant": "wang", "aggregate": "mean", "dynamic_range": 255.0},
    "MS_SSIM": {"aggregate": "mean", "dynamic_range": 255.0},
    "MEF_SSIM": {},
    "CC": {},
    "MSE": {"unit_range": False},
    "RMSE": {"variant": "standard"},
    "PSNR": {"variant": "standard"},
}

_DEFAULT_MMFUSE = tuple(m for m in METRICS if not m.startswith("FMI"))


def _with(overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {k: dict(v) for k, v in _MMFUSE_OPTIONS.items()}
    for k, v in overrides.items():
        out[k] = {**out[k], **v}
    return out


MMFUSE = Profile(
    name="mmfuse",
    description="mmfuse's documented default: standard definitions, BT.601 grey, bits, SSIM averaged",
    grey="bt601",
    colour="grey",
    log_base=2.0,
    aggregation="mean",
    options=_freeze(_MMFUSE_OPTIONS),
    default_metrics=_DEFAULT_MMFUSE,
)

_VIFB_METRICS = ("AG", "CE", "EI", "EN", "MI", "PSNR", "Qabf", "Qcb", "Qcv", "RMSE", "SF", "SSIM", "SD")

VIFB = Profile(
    name="vifb",
    description="VIFB benchmark MATLAB code (per-channel colour, MI in nats, SSIM summed, VIFB RMSE/PSNR)",
    grey="matlab_double",
    colour="per_channel",
    log_base=float(np.e),
    aggregation="sum",
    options=_freeze(
        _with(
            {
                "EN": {"quantization": "floor"},
                "SF": {"normalization": "MN"},
                "MI": {"variant": "vifb", "base": float(np.e)},
                "Qabf": {"gradient_scale": 255.0},
                "SSIM": {"variant": "wang", "aggregate": "sum", "dynamic_range": 255.0},
                "MS_SSIM": {"aggregate": "sum"},
                "RMSE": {"variant": "vifb"},
                "PSNR": {"variant": "vifb"},
            }
        )
    ),
    default_metrics=tuple(m for m in METRICS if m in _VIFB_METRICS),
    sf_concatenate_channels=True,
    unsupported=MappingProxyType(
        {"FMI_w": "MEFB's FMI_w uses MATLAB's 102-tap dmey filter, which PyWavelets does not have"}
    ),
    borrowed=tuple(m for m in METRICS if m not in _VIFB_METRICS and m != "FMI_w"),
)

_TANG_METRICS = ("EN", "MI", "SD", "SF", "MSE", "PSNR", "VIF", "AG", "CC", "SCD", "Qabf", "Nabf", "SSIM", "MEF_SSIM", "FMI_dct")

TANG = Profile(
    name="tang",
    description="Tang's MATLAB toolbox (SeAFusion-era tables; TG-ECNet column names)",
    grey="matlab_uint8",
    colour="grey",
    log_base=2.0,
    aggregation="mean",
    options=_freeze(
        _with(
            {
                "MI": {"variant": "tang", "base": 2.0},
                "MSE": {"unit_range": True},
                "PSNR": {"variant": "tang"},
                "SSIM": {"variant": "matlab", "aggregate": "mean", "dynamic_range": 1.0},
            }
        )
    ),
    default_metrics=tuple(m for m in METRICS if m in _TANG_METRICS and m != "FMI_dct"),
    argument_order=MappingProxyType({"Nabf": "ivf"}),
    unsupported=MappingProxyType(
        {
            "FMI_pixel": "the toolbox's FMI_pixel is FMI of MATLAB edge() maps (default feature), not ported",
            "FMI_w": "the toolbox uses MATLAB's 102-tap dmey filter, which PyWavelets does not have",
        }
    ),
    borrowed=tuple(m for m in METRICS if m not in _TANG_METRICS and m not in ("FMI_pixel", "FMI_w")),
)

_CDDFUSE_METRICS = ("EN", "SD", "SF", "AG", "MI", "MSE", "CC", "PSNR", "SCD", "VIF", "Qabf", "SSIM")

CDDFUSE = Profile(
    name="cddfuse",
    description="CDDFuse utils/Evaluator.py (OpenCV grey, MI in nats, PSNR peak max(F), SSIM of scikit-image 0.19 summed)",
    grey="opencv_float32",
    colour="grey",
    log_base=float(np.e),
    aggregation="sum",
    options=_freeze(
        _with(
            {
                "AG": {"divisor": "MN"},
                "MI": {"variant": "exact", "base": float(np.e)},
                "PSNR": {"variant": "cddfuse"},
                "SSIM": {"variant": "skimage", "aggregate": "sum", "dynamic_range": 2.0},
            }
        )
    ),
    default_metrics=tuple(m for m in METRICS if m in _CDDFUSE_METRICS),
    borrowed=tuple(m for m in METRICS if m not in _CDDFUSE_METRICS),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (MMFUSE, VIFB, TANG, CDDFUSE)})
"""All profiles by name."""


def get_profile(profile: str | Profile) -> Profile:
    """Look up a profile by name (case-insensitive) or pass a :class:`Profile` through.

    Raises:
        InputError: unknown profile name.
    """
    if isinstance(profile, Profile):
        return profile
    key = str(profile).strip().lower()
    if key not in PROFILES:
        raise InputError(f"unknown metric profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[key]
