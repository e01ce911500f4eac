"""On-the-fly training degradations: a dataset wrapper that degrades clean pairs per sample and epoch.

:class:`OnTheFlyDegradation` wraps a dataset of clean pairs (items ``{"name", "ir", "vis",
...}``, e.g. :class:`mmfuse.data.PairedFolderDataset`, usually after
:class:`mmfuse.data.RandomCropFlip` so that only the crop is degraded) and, for every item and
epoch, draws one setting of a degradation preset (:mod:`mmfuse.degrade.presets`) and applies it.
The item carries the degraded inputs, the clean references and the setting's **label** (its
index in the preset), which the degradation-aware gates of TG-ECNet-style models learn from
(Sun et al., ICML 2025, §3.2, two-stage training ``tg-ecnet.md`` §7.1).

Determinism: the random numbers of item ``i`` in epoch ``e`` come from
:func:`mmfuse.data.transforms.item_rng` ``(seed, salt, e, i)`` only, so results do not depend on
the DataLoader worker that loads the item, the number of workers or processes (DDP), or the
order of loading; they differ between epochs. Call :meth:`OnTheFlyDegradation.set_epoch`
before each epoch (the sample stream of :mod:`mmfuse.data.loader` does this for datasets given
as ``epoch_aware``).

The degradations run per sample in numpy (in the DataLoader workers); mmfuse has no torch
versions of the operators because per-sample numpy on training crops is fast enough
(about 2 ms of CPU per 128×128 crop, see ``docs/degradations.md``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np
from torch.utils.data import Dataset

from mmfuse.data.transforms import EpochSeededWrapper
from mmfuse.degrade.presets import Preset, apply_setting, load_preset
from mmfuse.errors import InputError

__all__ = ["OnTheFlyDegradation"]

_DEGRADE_SALT = 0x44454752  # "DEGR": the degradation stream of an item, independent of crops


def _probabilities(preset: Preset, weights: Union[Mapping[str, float], Sequence[float], None]) -> np.ndarray:
    n = len(preset.settings)
    if weights is None:
        return np.full(n, 1.0 / n)
    if isinstance(weights, Mapping):
        w = np.zeros(n)
        for name, value in weights.items():
            w[preset.index(str(name))] = float(value)
    else:
        w = np.asarray([float(v) for v in weights], dtype=np.float64)
        if w.shape != (n,):
            raise InputError(f"weights: preset {preset.name} has {n} settings, got {w.size} weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError(f"weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    return w / w.sum()


class OnTheFlyDegradation(EpochSeededWrapper):
    """Degrade each clean pair with a setting drawn per sample and epoch.

    Args:
        dataset: Dataset of clean items: dicts with ``"ir"`` ``(H, W)`` and ``"vis"``
            ``(H, W, 3)`` float32 arrays in ``[0, 1]`` (numpy), plus any other keys
            (``"name"``, ...), which are passed through.
        preset: Preset name, YAML path or :class:`~mmfuse.degrade.Preset` (default: TG-ECNet's
            ``demmi-rf``).
        weights: Sampling weights of the settings: ``None`` (uniform), a mapping
            ``{setting name: weight}`` (unlisted settings get 0) or a sequence aligned with
            :attr:`labels`. E.g. ``{"noise15": 1, "noise25": 1, "noise50": 1, "haze": 1,
            "defocus": 1, "stripe": 1}`` gives TG-ECNet's six single-degradation tasks.
        seed: Run seed.
        mode: ``"pair"``: degrade the pair (the fusion stage). ``"single"``: return one
            modality per sample, for restoration pre-training on single images (TG-ECNet's
            stage 1): the modality is the one the setting degrades (drawn at random when it
            degrades both or neither).
        vis_gray: Convert the visible images (degraded and clean) to BT.601 luma ``(H, W)``
            *after* degradation, as TG-ECNet's single-channel models see them.

    Items (``mode="pair"``): the input item's keys plus ``"ir"``, ``"vis"`` (degraded),
    ``"ir_clean"``, ``"vis_clean"`` (the inputs' ``"ir"``/``"vis"``), ``"label"`` (int, index of
    the setting in :attr:`labels`) and ``"setting"`` (str). With ``vis_gray`` the visible arrays
    are ``(H, W)``.

    Items (``mode="single"``): ``"name"`` (if present), ``"modality"`` (``"ir"`` or ``"vis"``),
    ``"input"`` (degraded), ``"target"`` (clean), ``"label"``, ``"setting"``. To keep batches
    stackable, infrared images are replicated to ``(H, W, 3)`` unless ``vis_gray`` is set, in
    which case every image is ``(H, W)``.

    Raises:
        InputError: Unknown preset or setting names in ``weights``, bad weights or mode.
    """

    def __init__(
        self,
        dataset: Dataset,
        preset: Union[str, Preset] = "demmi-rf",
        *,
        weights: Union[Mapping[str, float], Sequence[float], None] = None,
        seed: int = 0,
        mode: Literal["pair", "single"] = "pair",
        vis_gray: bool = False,
    ) -> None:
        if mode not in ("pair", "single"):
            raise InputError(f"mode must be 'pair' or 'single', got {mode!r}")
        super().__init__(dataset, seed)
        self.preset = load_preset(preset)
        self.probabilities = _probabilities(self.preset, weights)
        self.mode = mode
        self.vis_gray = bool(vis_gray)

    @property
    def labels(self) -> list[str]:
        """Setting names in label order (``labels[item["label"]] == item["setting"]``)."""
        return self.preset.names

    @property
    def num_labels(self) -> int:
        """Number of settings (classes of a degradation-aware gate)."""
        return len(self.preset.settings)

    def draw(self, index: int) -> tuple[int, int]:
        """``(label, seed)`` used for item ``index`` in the current epoch (for inspection and tests)."""
        rng = self.rng(_DEGRADE_SALT, index)
        label = int(rng.choice(len(self.probabilities), p=self.probabilities))
        return label, int(rng.integers(0, 2**63 - 1))

    def __getitem__(self, index: int) -> dict[str, Any]:
        from mmfuse.io import rgb_to_gray

        item = self.dataset[index]
        if not isinstance(item, Mapping) or "ir" not in item or "vis" not in item:
            raise InputError(f"item {index}: expected a dict with 'ir' and 'vis' images")
        ir, vis = item["ir"], item["vis"]
        label, seed = self.draw(index)
        setting = self.preset.settings[label]

        def gray(x: np.ndarray) -> np.ndarray:
            return rgb_to_gray(x) if self.vis_gray and x.ndim == 3 else x

        if self.mode == "pair":
            ir_d, vis_d, _ = apply_setting(ir, vis, setting, seed)
            out = dict(item)
            out.update({
                "ir": ir_d, "vis": gray(vis_d), "ir_clean": np.asarray(ir, dtype=np.float32),
                "vis_clean": gray(np.asarray(vis, dtype=np.float32)), "label": label, "setting": setting.name,
            })
            return out

        candidates = [m for m, chain in (("vis", setting.vis), ("ir", setting.ir)) if chain] or ["vis", "ir"]
        # The modality choice uses its own stream so that it does not change the degradation.
        pick = self.rng(_DEGRADE_SALT + 1, index)
        modality = candidates[int(pick.integers(0, len(candidates)))] if len(candidates) > 1 else candidates[0]
        if modality == "ir":
            deg, _, _ = apply_setting(ir, None, setting, seed)
            clean = np.asarray(ir, dtype=np.float32)
            if not self.vis_gray and deg.ndim == 2:
                deg, clean = np.repeat(deg[..., None], 3, axis=2), np.repeat(clean[..., None], 3, axis=2)
        else:
            _, deg, _ = apply_setting(None, vis, setting, seed)
            deg, clean = gray(deg), gray(np.asarray(vis, dtype=np.float32))
        out = {"modality": modality, "input": deg, "target": clean, "label": label, "setting": setting.name}
        if "name" in item:
            out = {"name": item["name"], **out}
        return out

    def __repr__(self) -> str:
        p = ", ".join(f"{n}={w:.3g}" for n, w in zip(self.labels, self.probabilities) if w > 0)
        return f"OnTheFlyDegradation(preset={self.preset.name!r}, mode={self.mode!r}, seed={self.seed}, p=({p}))"
