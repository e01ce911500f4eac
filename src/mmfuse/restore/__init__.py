"""Classical (training-free) restorers and the degradation context of the ``auto`` cascade.

Restorers are pure functions on float32 ``[0, 1]`` images, ``(H, W)`` gray or ``(H, W, 3)``
RGB, returning the same shape; :data:`RESTORERS` is their explicit registry, each entry
declaring the :mod:`mmfuse.degrade` operators it targets. They are combined with a fuser by the
``cascade:<restorers>+<fuser>`` methods (:mod:`mmfuse.models.cascade`).

=============  ===============================================  ==============================
name           method                                           targets
=============  ===============================================  ==============================
denoise        non-local means, h from a wavelet noise estimate  gaussian/poisson/thermal noise
destripe       column offsets from median row differences        stripe_noise (IR)
destripe-wfft  Münch et al. wavelet–FFT filter                   (manual use)
derain         grey opening, horizontal line (mild baseline)     rain
desnow         grey opening, small disk (mild baseline)          snow
deblur         Wiener–Hunt, disk PSF, spectral radius estimate   defocus_blur
dehaze         dark channel prior + guided filter                haze
lowlight       LIME-style illumination map + guided filter       low_light
=============  ===============================================  ==============================
"""
from __future__ import annotations

from mmfuse.restore.context import (
    DegradationContext,
    context_from_manifest,
    context_from_setting_name,
    estimate_context,
)
from mmfuse.restore.deblur import deblur_wiener, estimate_defocus_radius
from mmfuse.restore.dehaze import dehaze_dcp
from mmfuse.restore.denoise import denoise_nlm, estimate_noise_sigma
from mmfuse.restore.destripe import destripe_columns, destripe_wavelet_fft, stripe_amplitude, stripe_noise_floor, stripe_profile, stripe_profile_and_floor
from mmfuse.restore.lowlight import enhance_lowlight
from mmfuse.restore.registry import RESTORE_ORDER, RESTORERS, Restorer, get_restorer, list_restorers, plan_restorers
from mmfuse.restore.weather import derain_opening, desnow_opening

__all__ = [
    "DegradationContext",
    "RESTORERS",
    "RESTORE_ORDER",
    "Restorer",
    "context_from_manifest",
    "context_from_setting_name",
    "deblur_wiener",
    "dehaze_dcp",
    "denoise_nlm",
    "derain_opening",
    "desnow_opening",
    "destripe_columns",
    "destripe_wavelet_fft",
    "enhance_lowlight",
    "estimate_context",
    "estimate_defocus_radius",
    "estimate_noise_sigma",
    "get_restorer",
    "list_restorers",
    "plan_restorers",
    "stripe_amplitude",
    "stripe_noise_floor",
    "stripe_profile",
    "stripe_profile_and_floor",
]
