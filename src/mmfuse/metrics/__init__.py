"""Objective fusion metrics that reproduce the published toolboxes, with convention profiles.

Metric functions are pure numpy/scipy on single-channel images on the 0–255 grey-level scale
(pass ``data_range=1.0`` for ``[0, 1]`` floats). No-reference metrics take the fused image;
the others take ``(fused, a, b)`` with ``a`` = infrared and ``b`` = visible. Keyword options
select a toolbox convention; each docstring gives the formula, the reference and which toolbox
each option reproduces.

=========================  =====================================================================
no reference               :func:`EN`, :func:`SD`, :func:`SF`, :func:`AG`, :func:`EI`
information theory         :func:`CE`, :func:`MI`, :func:`NMI`, :func:`FMI_pixel`,
                           :func:`FMI_dct`, :func:`FMI_w`
gradients (Petrović)       :func:`Qabf`, :func:`Nabf` (Kumar's modified), :func:`Nabf_petrovic`
human perception           :func:`Qcb`, :func:`Qcv`, :func:`VIF`
structure                  :func:`SSIM`, :func:`MS_SSIM` (Wang 5-scale), :func:`MEF_SSIM`
                           (Ma et al.; Tang's "MS_SSIM")
correlation / error        :func:`CC`, :func:`SCD`, :func:`MSE`, :func:`RMSE`, :func:`PSNR`
=========================  =====================================================================

For whole images (colour handling, grey conversion, degraded-fusion references) use
:func:`evaluate` with a profile (``mmfuse``, ``vifb``, ``tang``, ``cddfuse``; see
:mod:`mmfuse.metrics.profiles`), and :func:`evaluate_folders` for folders (:func:`evaluate_many` scores several fused images of the
same sources, e.g. several methods, sharing the source-side work).
"""
from __future__ import annotations

from mmfuse.metrics._error import CC, MSE, PSNR, RMSE, SCD
from mmfuse.metrics._evaluate import (
    METRIC_FUNCTIONS,
    FolderEvaluation,
    evaluate,
    evaluate_folders,
    evaluate_many,
    resolve_metrics,
)
from mmfuse.metrics._fmi import FMI, FMI_dct, FMI_pixel, FMI_w
from mmfuse.metrics._info import CE, MI, NMI
from mmfuse.metrics._perceptual import Qcb, Qcv
from mmfuse.metrics._petrovic import Nabf, Nabf_petrovic, Qabf
from mmfuse.metrics._single import AG, EI, EN, SD, SF
from mmfuse.metrics._ssim import MEF_SSIM, MS_SSIM, SSIM
from mmfuse.metrics._vif import VIF
from mmfuse.metrics.profiles import METRIC_DIRECTION, METRICS, NO_REFERENCE_METRICS, PROFILES, Profile, get_profile

__all__ = [
    "AG",
    "CC",
    "CE",
    "EI",
    "EN",
    "FMI",
    "FMI_dct",
    "FMI_pixel",
    "FMI_w",
    "MEF_SSIM",
    "METRICS",
    "METRIC_DIRECTION",
    "METRIC_FUNCTIONS",
    "MI",
    "MSE",
    "MS_SSIM",
    "NMI",
    "NO_REFERENCE_METRICS",
    "Nabf",
    "Nabf_petrovic",
    "PROFILES",
    "PSNR",
    "Profile",
    "Qabf",
    "Qcb",
    "Qcv",
    "RMSE",
    "SCD",
    "SD",
    "SF",
    "SSIM",
    "VIF",
    "FolderEvaluation",
    "evaluate",
    "evaluate_folders",
    "evaluate_many",
    "get_profile",
    "resolve_metrics",
]
