"""The restorer registry: one explicit dict from restorer name to a :class:`Restorer`.

A restorer is a pure function ``(H, W)`` / ``(H, W, 3)`` float32 ``[0, 1]`` → same shape, that
needs no training. Each declares the degradation operators of :mod:`mmfuse.degrade` it targets
(operator names such as ``"gaussian_noise"``) and the modality it is normally applied to; the
``auto`` cascade uses these declarations to pick restorers for a pair's known degradations.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mmfuse.errors import InputError
from mmfuse.restore.deblur import deblur_wiener
from mmfuse.restore.dehaze import dehaze_dcp
from mmfuse.restore.denoise import denoise_nlm
from mmfuse.restore.destripe import destripe_columns, destripe_wavelet_fft
from mmfuse.restore.lowlight import enhance_lowlight
from mmfuse.restore.weather import derain_opening, desnow_opening

__all__ = ["Restorer", "RESTORERS", "RESTORE_ORDER", "AUTO_EXTRA", "get_restorer", "list_restorers", "plan_restorers"]

Modality = Literal["vis", "ir"]


@dataclass(frozen=True)
class Restorer:
    """A registered training-free restorer.

    Attributes:
        name: registry name (used in ``cascade:<name>+...``).
        fn: ``fn(img) -> img`` on float32 ``[0, 1]`` ``(H, W)`` or ``(H, W, 3)`` arrays.
        targets: :mod:`mmfuse.degrade` operator names this restorer undoes.
        modality: image it applies to by default: ``"vis"`` or ``"ir"``.
        description: one line for listings.
        paper: short citation.
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    targets: tuple[str, ...]
    modality: Modality
    description: str
    paper: str

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return self.fn(img)


#: All restorers by name. Explicit on purpose: adding a restorer means adding an entry here.
RESTORERS: dict[str, Restorer] = {
    r.name: r
    for r in (
        Restorer("denoise", denoise_nlm, ("gaussian_noise", "poisson_noise", "thermal_noise"), "vis",
                 "non-local means, strength from a wavelet noise estimate", "Buades et al., CVPR 2005 / IPOL 2011"),
        Restorer("destripe", destripe_columns, ("stripe_noise",), "ir",
                 "column offsets from the median of horizontal differences", "Harris & Chiang, IEEE TIP 1999"),
        Restorer("destripe-wfft", destripe_wavelet_fft, (), "ir",
                 "combined wavelet-Fourier stripe filter", "Münch et al., Optics Express 2009"),
        Restorer("derain", derain_opening, ("rain",), "vis",
                 "grey opening by a horizontal line (mild baseline)", "Serra, 1982 (morphology)"),
        Restorer("desnow", desnow_opening, ("snow",), "vis",
                 "grey opening by a small disk (mild baseline)", "Serra, 1982 (morphology)"),
        Restorer("deblur", deblur_wiener, ("defocus_blur",), "vis",
                 "Wiener-Hunt deconvolution, disk PSF with spectrally estimated radius", "Wiener 1949; Cannon, IEEE TASSP 1976"),
        Restorer("dehaze", dehaze_dcp, ("haze",), "vis",
                 "dark channel prior, guided-filter transmission", "He, Sun & Tang, CVPR 2009 / TPAMI 2011"),
        Restorer("lowlight", enhance_lowlight, ("low_light",), "vis",
                 "illumination-map enhancement (LIME-style, guided filter)", "Guo, Li & Ling, IEEE TIP 2017"),
    )
}

#: Order in which ``auto`` applies restorers: the reverse of the physical order in which
#: degradations arise (scene → optics → sensor), so sensor effects go first: the fixed column
#: pattern (whose columns non-local means would otherwise match as structure), then white
#: noise, then weather streaks, blur, haze, and exposure last.
RESTORE_ORDER: tuple[str, ...] = ("destripe", "destripe-wfft", "denoise", "derain", "desnow", "deblur", "dehaze", "lowlight")

#: Extra restorers ``auto`` adds for an operator: the ``stripe_noise`` operator also adds white
#: per-pixel noise (EMS recipe), so a striped image is destriped and then denoised.
AUTO_EXTRA: dict[str, tuple[str, ...]] = {"stripe_noise": ("denoise",)}


def get_restorer(name: str) -> Restorer:
    """The restorer registered as ``name``.

    Raises:
        InputError: unknown name (the message lists the known ones).
    """
    try:
        return RESTORERS[name]
    except KeyError:
        raise InputError(f"unknown restorer {name!r}; known: {', '.join(RESTORERS)}, auto") from None


def list_restorers() -> list[Restorer]:
    """All registered restorers, in :data:`RESTORE_ORDER`."""
    return [RESTORERS[n] for n in RESTORE_ORDER]


def plan_restorers(ops: Iterable[str]) -> list[str]:
    """Restorer names undoing the given degradation operators, in :data:`RESTORE_ORDER`.

    Operators no restorer targets (e.g. ``jpeg``, ``gaussian_blur``) are ignored.

    Args:
        ops: :mod:`mmfuse.degrade` operator names present in one image.
    """
    wanted: set[str] = set()
    for op in ops:
        for r in RESTORERS.values():
            if op in r.targets:
                wanted.add(r.name)
        wanted.update(AUTO_EXTRA.get(op, ()))
    return [n for n in RESTORE_ORDER if n in wanted]
