"""Presets: named lists of degradation settings, stored as YAML data files.

A **setting** is ``(name, vis chain, ir chain)``, e.g. ``noise50+haze+defocus+stripe`` =
(VIS ``haze+defocus+noise50``, IR ``stripe``). A **preset** is a YAML file in
``mmfuse/degrade/presets/`` with

.. code-block:: yaml

    name: demmi-rf
    description: one paragraph
    source: papers / specs the numbers come from
    steps:                      # the vocabulary its chains use
      noise25: {op: gaussian_noise, params: {sigma: 25}, source: "TG-ECNet §4.1"}
      haze:
        op: haze
        params: {beta: {uniform: [0.04, 0.12]}, airlight: mean, depth: radial}
        source: "..."
    settings:                   # ordered; the index is the setting's label
      - {name: clean, vis: "", ir: ""}
      - {name: noise25, vis: noise25, ir: ""}

Shipped presets are listed explicitly in :data:`PRESET_FILES`; :func:`load_preset` also accepts
the path of a user's YAML file with the same schema.
"""
from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Optional, Union

import numpy as np
import yaml

from mmfuse.degrade._common import RngLike, as_rng, check_image
from mmfuse.degrade.steps import Step, apply_chain, chain_text, parse_chain
from mmfuse.errors import ConfigError, InputError

__all__ = ["Setting", "Preset", "PRESET_FILES", "list_presets", "load_preset", "apply_setting"]

#: Shipped presets: name → file in ``mmfuse/degrade/presets/``.
PRESET_FILES: Mapping[str, str] = MappingProxyType({
    "demmi-rf": "demmi-rf.yaml",
    "ems": "ems.yaml",
    "weather": "weather.yaml",
    "lure": "lure.yaml",
    "drmf": "drmf.yaml",
})

_TOP_KEYS = {"name", "description", "source", "steps", "settings"}
_STEP_KEYS = {"op", "params", "source"}
_SETTING_KEYS = {"name", "vis", "ir", "description"}


@dataclass(frozen=True)
class Setting:
    """One degradation setting of a preset.

    Attributes:
        name: Setting name (directory name in a benchmark, e.g. ``"noise25"``).
        vis: Steps applied to the visible image, left to right (empty: left clean).
        ir: Steps applied to the infrared image, left to right (empty: left clean).
        description: Free text.
    """

    name: str
    vis: tuple[Step, ...]
    ir: tuple[Step, ...]
    description: str = ""

    @property
    def vis_chain(self) -> str:
        """The visible chain as ``token+token`` (``""`` if clean)."""
        return chain_text(self.vis)

    @property
    def ir_chain(self) -> str:
        """The infrared chain as ``token+token`` (``""`` if clean)."""
        return chain_text(self.ir)


@dataclass(frozen=True)
class Preset:
    """A named, ordered collection of settings and the step vocabulary they use.

    Attributes:
        name: Preset name.
        description: What the preset reproduces.
        source: Papers, specs and scripts the numbers come from.
        steps: Token → :class:`~mmfuse.degrade.steps.Step`.
        settings: Settings in label order.
        path: File the preset was read from.
    """

    name: str
    description: str
    source: str
    steps: Mapping[str, Step]
    settings: tuple[Setting, ...]
    path: Optional[str] = None

    @property
    def names(self) -> list[str]:
        """Setting names in label order (the labels of degradation-aware gates)."""
        return [s.name for s in self.settings]

    def index(self, name: str) -> int:
        """Label (position) of setting ``name``."""
        for i, s in enumerate(self.settings):
            if s.name == name:
                return i
        raise InputError(f"preset {self.name}: unknown setting {name!r}; known: {', '.join(self.names)}")

    def setting(self, name: str) -> Setting:
        """The setting called ``name`` (raises :class:`InputError` with the known names)."""
        return self.settings[self.index(name)]

    def select(self, names: Union[str, Sequence[str], None]) -> tuple[Setting, ...]:
        """Settings named in ``names`` (comma-separated string or list), in preset order; all if ``None``.

        Raises:
            InputError: An unknown or empty name.
        """
        if names is None:
            return self.settings
        wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else [str(n).strip() for n in names]
        if not wanted or any(not n for n in wanted):
            raise InputError(f"preset {self.name}: empty setting name in {names!r}")
        for n in wanted:
            self.index(n)
        chosen = set(wanted)
        return tuple(s for s in self.settings if s.name in chosen)


def _parse_preset(data: Any, origin: str) -> Preset:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: a preset must be a YAML mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{origin}: 'name' must be a non-empty string")
    raw_steps = data.get("steps") or {}
    if not isinstance(raw_steps, Mapping):
        raise ConfigError(f"{origin}: 'steps' must be a mapping token -> {{op, params, source}}")
    steps: dict[str, Step] = {}
    for token, spec in raw_steps.items():
        if not isinstance(spec, Mapping) or "op" not in spec or set(spec) - _STEP_KEYS:
            raise ConfigError(f"{origin}: step {token!r} must be a mapping with keys op, params, source")
        try:
            steps[str(token)] = Step(token=str(token), op=spec["op"], params=spec.get("params") or {},
                                     source=str(spec.get("source", "")))
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    raw_settings = data.get("settings")
    if not isinstance(raw_settings, list) or not raw_settings:
        raise ConfigError(f"{origin}: 'settings' must be a non-empty list")
    settings: list[Setting] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw_settings):
        if not isinstance(entry, Mapping) or set(entry) - _SETTING_KEYS or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{origin}: settings[{i}] must be a mapping with keys name, vis, ir, description")
        sname = entry["name"].strip()
        if not sname or "/" in sname or "\\" in sname or sname in (".", ".."):
            raise ConfigError(f"{origin}: settings[{i}] has an invalid name {entry['name']!r}")
        if sname in seen:
            raise ConfigError(f"{origin}: duplicate setting {sname!r}")
        seen.add(sname)
        chains = {}
        for modality in ("vis", "ir"):
            text = entry.get(modality) or ""
            if not isinstance(text, str):
                raise ConfigError(f"{origin}: setting {sname!r}: {modality} must be a chain string")
            try:
                chains[modality] = parse_chain(text, steps, where=f"setting {sname!r} {modality}")
            except InputError as exc:
                raise ConfigError(f"{origin}: {exc}") from None
        settings.append(Setting(name=sname, vis=chains["vis"], ir=chains["ir"],
                                description=str(entry.get("description", ""))))
    preset = Preset(name=name, description=str(data.get("description", "")).strip(),
                    source=str(data.get("source", "")).strip(), steps=MappingProxyType(steps),
                    settings=tuple(settings), path=origin)
    _dry_run(preset, origin)
    return preset


def _dry_run(preset: Preset, origin: str) -> None:
    """Run every step once on a small image so that bad parameter values fail at load time."""
    probe = np.linspace(0.0, 1.0, 24 * 24 * 3, dtype=np.float32).reshape(24, 24, 3)
    for token, step in preset.steps.items():
        try:
            step.apply(probe, 0)
        except InputError as exc:
            raise ConfigError(f"{origin}: step {token!r}: {exc}") from None


@functools.lru_cache(maxsize=None)
def _load_shipped(name: str) -> Preset:
    ref = resources.files("mmfuse.degrade").joinpath("presets", PRESET_FILES[name])
    text = ref.read_text(encoding="utf-8")
    preset = _parse_preset(yaml.safe_load(text), f"presets/{PRESET_FILES[name]}")
    if preset.name != name:
        raise ConfigError(f"presets/{PRESET_FILES[name]}: name {preset.name!r} does not match {name!r}")
    return preset


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return list(PRESET_FILES)


def load_preset(preset: Union[str, Path, Preset]) -> Preset:
    """Load a shipped preset by name, or a user preset from a YAML file.

    Args:
        preset: A name from :func:`list_presets`, a path to a ``.yaml``/``.yml`` file, or a
            :class:`Preset` (returned unchanged).

    Returns:
        The validated preset (every step has been dry-run once).

    Raises:
        InputError: Unknown name or missing file.
        ConfigError: The YAML is malformed or uses unknown operators, parameters or steps.
    """
    if isinstance(preset, Preset):
        return preset
    key = str(preset)
    if key in PRESET_FILES:
        return _load_shipped(key)
    path = Path(key)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise InputError(f"{path}: preset file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"{path}: cannot read preset ({first})") from None
        return _parse_preset(data, str(path))
    raise InputError(f"unknown preset {key!r}; known: {', '.join(PRESET_FILES)} (or a path to a .yaml file)")


def apply_setting(
    ir: Optional[np.ndarray],
    vis: Optional[np.ndarray],
    setting: Setting,
    rng: RngLike,
) -> tuple[Optional[np.ndarray], Optional[np.ndarray], dict[str, Any]]:
    """Degrade an infrared/visible pair with one setting.

    Randomness: two child seeds are drawn from ``rng`` first (VIS, then IR) and each chain runs
    on its own generator, so the IR result does not depend on the VIS chain (and the same
    ``rng`` gives the same IR result whether or not ``vis`` is given).

    Args:
        ir: ``(H, W)`` (or ``(H, W, 3)``) float infrared image in ``[0, 1]``, or ``None``.
        vis: ``(H, W, 3)`` (or ``(H, W)``) float visible image in ``[0, 1]``, or ``None``.
        setting: The setting (``load_preset(...).setting(name)``).
        rng: Generator or non-negative int seed. With an int, the record stores it, and
            ``apply_setting(ir, vis, setting, record["seed"])`` reproduces the output exactly.

    Returns:
        ``(ir_deg, vis_deg, record)``: float32 arrays of the input shapes in ``[0, 1]`` (a copy
        when the chain is empty; ``None`` where the input was ``None``) and a JSON-serialisable
        record ``{"setting", "seed", "vis_chain", "ir_chain", "vis": [...], "ir": [...]}`` with one
        ``{"step", "op", "params"}`` entry per applied step.
    """
    if not isinstance(setting, Setting):
        raise InputError(f"apply_setting: expected a Setting, got {type(setting).__name__}")
    seed = int(rng) if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) else None
    gen = as_rng(rng)
    vis_seed, ir_seed = (int(s) for s in gen.integers(0, 2**63 - 1, size=2, dtype=np.int64))
    vis_out = ir_out = None
    vis_rec: list[dict[str, Any]] = []
    ir_rec: list[dict[str, Any]] = []
    if vis is not None:
        vis_out, vis_rec = apply_chain(check_image(vis, "vis"), setting.vis, np.random.default_rng(vis_seed))
    if ir is not None:
        ir_out, ir_rec = apply_chain(check_image(ir, "ir"), setting.ir, np.random.default_rng(ir_seed))
    record = {
        "setting": setting.name,
        "seed": seed,
        "vis_chain": setting.vis_chain,
        "ir_chain": setting.ir_chain,
        "vis": vis_rec,
        "ir": ir_rec,
    }
    return ir_out, vis_out, record
