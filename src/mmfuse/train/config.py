"""Training configuration: YAML files validated into dataclasses.

A config file (``configs/<model>-<size>[-<stage>].yaml``) has the sections of
:class:`TrainConfig`; ``docs/training.md`` documents every key. Loading is strict:

* an unknown or misspelled key raises :class:`mmfuse.errors.ConfigError` naming the key, the
  closest valid key and every valid key of that section;
* a value of the wrong type raises :class:`~mmfuse.errors.ConfigError` naming the key;
* ``--set a.b=value`` overrides (:func:`apply_overrides`) take YAML-typed values
  (``--set stages.0.lr=2e-4``, ``--set data.flip=false``, ``--set model.channels=8``); list
  items are addressed by index.

The resolved config (defaults filled in, overrides applied, paths made absolute) is written to
the run folder as ``config.yaml`` (:func:`save_config`) and is what ``--resume`` reads back.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from mmfuse.errors import ConfigError

__all__ = [
    "SourceConfig",
    "DegradationConfig",
    "DataConfig",
    "StageConfig",
    "ValidationConfig",
    "CheckpointConfig",
    "LogConfig",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "parse_override",
    "save_config",
]


# --------------------------------------------------------------------------- schema


@dataclass
class SourceConfig:
    """One folder of training or validation data.

    Attributes:
        root: dataset folder (relative paths are relative to the working directory).
        kind: ``"pairs"`` (infrared/visible folders), or ``"multi-exposure"`` /
            ``"multi-focus"`` (pairs synthesised from the single images in ``root``).
        ir_dir: infrared sub-folder (default: detected, e.g. ``ir``).
        vis_dir: visible sub-folder (default: detected, e.g. ``vi``).
        ir_clean_dir: sub-folder of clean infrared references (degraded inputs), or null.
        vis_clean_dir: sub-folder of clean visible references, or null.
        split_file: JSON split file (``{"train": [stems], "val": [...], ...}``), or null.
        split: split name in ``split_file`` (default: ``train`` in ``data.train``, ``val`` in
            ``data.val``).
        label: integer label of every item of this source (e.g. a degradation class), or null.
        repeat: how many times the source is repeated when concatenated with others
            (oversampling a small source).
    """

    root: str
    kind: Literal["pairs", "multi-exposure", "multi-focus"] = "pairs"
    ir_dir: str | None = None
    vis_dir: str | None = None
    ir_clean_dir: str | None = None
    vis_clean_dir: str | None = None
    split_file: str | None = None
    split: str | None = None
    label: int | None = None
    repeat: int = 1


@dataclass
class DegradationConfig:
    """On-the-fly degradation of training pairs (:class:`mmfuse.data.degraded.OnTheFlyDegradation`).

    Attributes:
        preset: degradation preset name (see ``mmfuse.degrade``).
        weights: sampling weight per degradation setting of the preset, or null for the
            preset's own.
        mode: ``pair`` (degrade the pair; items gain ``ir_clean``, ``vis_clean``, ``label``,
            ``setting``) or ``single`` (one degraded modality per item: ``input``, ``target``,
            ``modality``, ``label``, ``setting``; restoration pre-training).
        vis_gray: convert visible images to luminance after degradation.
        validation: also degrade the validation pairs (with fixed, seeded parameters).
        before_crop: degrade the whole training image and then crop (degradations whose
            parameters depend on the image, such as haze depth and airlight, then match those of
            whole test images; slower). Default: crop first, then degrade the crop.
    """

    preset: str = "demmi-rf"
    weights: dict[str, float] | None = None
    mode: Literal["pair", "single"] = "pair"
    vis_gray: bool = False
    validation: bool = True
    before_crop: bool = False


@dataclass
class DataConfig:
    """Datasets, augmentation and loading.

    Attributes:
        train: training sources, concatenated.
        val: validation sources (full images, no augmentation); empty: no validation.
        flip: random horizontal/vertical flips of training crops.
        rot90: random quarter turns of training crops.
        degradation: degrade training pairs on the fly, or null.
        num_workers: DataLoader worker processes per training process.
        cache: keep decoded images in memory.
        shuffle: shuffle the sample order every epoch.
    """

    train: list[SourceConfig] = field(default_factory=list)
    val: list[SourceConfig] = field(default_factory=list)
    flip: bool = True
    rot90: bool = False
    degradation: DegradationConfig | None = None
    num_workers: int = 0
    cache: bool = True
    shuffle: bool = True


@dataclass
class StageConfig:
    """One named training stage; stages run in order.

    Attributes:
        name: stage name (unique), passed to the model's ``training_losses`` / ``forward_stage``
            unless ``task`` is set.
        task: what the model is asked to do in this stage, when it differs from the name (e.g.
            a second restoration stage ``{name: refine, task: restore}`` after adding a module).
        steps: optimisation steps of this stage.
        batch_size: global batch size (over all processes; divisible by the process count).
        crop_size: side of the square random training crops (pixels).
        optimizer: ``adam`` or ``adamw``.
        lr: peak learning rate.
        min_lr: final learning rate of the cosine schedule.
        weight_decay: weight decay (decoupled for AdamW, L2 for Adam).
        decay_1d: also decay 1-D parameters (biases, norm scales); off by default.
        betas: Adam betas.
        eps: Adam epsilon.
        warmup_steps: linear warm-up from ``lr / warmup_steps`` to ``lr``.
        schedule: ``cosine`` (half cosine from ``lr`` to ``min_lr`` after warm-up) or
            ``constant``.
        grad_clip: clip the global gradient norm to this value, or null.
        ema: exponential-moving-average decay of the weights (e.g. 0.999), or null. The EMA
            weights are validated, exported, and become the model's weights when the stage ends.
        freeze: parameter-name prefixes frozen in this stage (e.g. ``[encoder., prompt]``).
        trainable: if set, only parameters with these prefixes are trained (the rest frozen).
        frozen_eval: keep fully frozen sub-modules in eval mode (no dropout, no noisy gating,
            no batch-norm statistics updates).
        loss_weights: weight of each loss term of the model (unknown terms are an error when
            the model declares ``default_loss_weights``).
        data: overrides of ``data`` keys for this stage only (e.g. another ``train`` source
            list or ``degradation``).
    """

    name: str
    steps: int
    task: str | None = None
    batch_size: int = 4
    crop_size: int = 128
    optimizer: Literal["adam", "adamw"] = "adamw"
    lr: float = 1e-3
    min_lr: float = 0.0
    weight_decay: float = 0.0
    decay_1d: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float | None = None
    ema: float | None = None
    freeze: list[str] = field(default_factory=list)
    trainable: list[str] | None = None
    frozen_eval: bool = True
    loss_weights: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The stage name the model sees: ``task`` or, by default, ``name``."""
        return self.task or self.name


@dataclass
class ValidationConfig:
    """Validation on the held-out pairs of ``data.val``.

    Attributes:
        every: validate every this many steps (0: only at the end of each stage).
        metrics: metric names computed by :func:`mmfuse.metrics.evaluate`.
        profile: metric convention profile of :func:`mmfuse.metrics.evaluate`.
        max_items: validate on at most this many pairs (null: all).
        crop: centre-crop validation images to this size (null: full images).
        stages: validate only during these stages (null: every stage); e.g. skip a
            restoration pre-training stage whose outputs cannot be scored as fusion.
    """

    every: int = 0
    metrics: list[str] = field(default_factory=lambda: ["EN", "SD", "SF", "Qabf"])
    profile: str = "mmfuse"
    max_items: int | None = None
    crop: int | None = None
    stages: list[str] | None = None


@dataclass
class CheckpointConfig:
    """Checkpointing.

    Attributes:
        every: write ``checkpoints/last.*`` every this many steps (also at each stage end).
        keep_stage_weights: also keep ``checkpoints/<stage>.safetensors`` at each stage end.
    """

    every: int = 100
    keep_stage_weights: bool = True


@dataclass
class LogConfig:
    """Logging.

    Attributes:
        every: write a ``log.csv`` row every this many steps.
        tensorboard: ``auto`` (if the ``tensorboard`` package is installed), ``true`` or
            ``false``.
        progress: show a progress bar (null: only on a terminal).
    """

    every: int = 1
    tensorboard: Literal["auto", "true", "false"] = "auto"
    progress: bool | None = None


@dataclass
class TrainConfig:
    """A complete training run.

    Attributes:
        model: ``name`` (a registered architecture) plus its constructor arguments.
        data: datasets and loading.
        stages: named stages, run in order.
        validation: validation settings.
        checkpoint: checkpoint settings.
        log: logging settings.
        seed: seeds model initialisation, data order, augmentation and degradations.
        output_dir: run folder (``--out`` overrides it).
        method: method name written into exported weights (default: the architecture name).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (GPU if available).
        init_weights: weights file (``mmfuse export`` output or any safetensors state dict of
            the model) loaded before the first stage, e.g. to fine-tune a shipped model; ignored
            when resuming from a checkpoint.
        init_partial: let ``init_weights`` leave parameters of the configured model unset (they
            keep their initialisation; the run log names them), e.g. to fine-tune a shipped model
            after adding a module. Tensors the model does not have, or of another shape, are
            still errors.
        start_stage: skip the stages before this one, e.g. to continue a pipeline from
            ``init_weights`` exported after its earlier stages.
        end_stage: stop after this stage (the later ones are not run), e.g. to export and
            evaluate a pipeline's weights before its last stages.
        threads: CPU threads of PyTorch's intra-op pool in each process (null: PyTorch's
            default; 1 is often fastest on small models or a shared machine).
        deterministic: ask PyTorch for deterministic algorithms (warn-only).
        find_unused_parameters: DistributedDataParallel option, needed when a stage's forward
            leaves trainable parameters unused.
    """

    model: dict[str, Any]
    data: DataConfig
    stages: list[StageConfig]
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)
    seed: int = 0
    output_dir: str = "runs/run"
    method: str | None = None
    device: str = "cpu"
    init_weights: str | None = None
    init_partial: bool = False
    start_stage: str | None = None
    end_stage: str | None = None
    threads: int | None = None
    deterministic: bool = True
    find_unused_parameters: bool = False

    @property
    def arch(self) -> str:
        """The architecture name (``model.name``)."""
        return str(self.model["name"])

    @property
    def arch_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the architecture (``model`` minus ``name``)."""
        return {k: v for k, v in self.model.items() if k != "name"}

    @property
    def total_steps(self) -> int:
        """Steps over all stages."""
        return sum(s.steps for s in self.stages)

    def stage_data(self, stage: StageConfig) -> DataConfig:
        """``data`` with the stage's overrides applied."""
        if not stage.data:
            return self.data
        base = config_to_dict(self.data)
        base.update(stage.data)
        return _build(DataConfig, base, f"stages.{stage.name}.data")


_PATH_KEYS = ("root", "split_file")


# --------------------------------------------------------------------------- validation


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against type ``tp`` (converting int→float and numeric strings)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        if isinstance(value, bool) and str(value).lower() in args:  # YAML turns true/false into bools
            return str(value).lower()
        choices = ", ".join(str(a) for a in args)
        hint = _suggest(str(value), [str(a) for a in args])
        raise ConfigError(f"{where}: invalid value {value!r}{hint} (choose {choices})")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected a list of {len(args)} values, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        out = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _build(cls: type, raw: Any, where: str) -> Any:
    """Validate a mapping into dataclass ``cls``; unknown keys and missing required keys are errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    valid = list(fields)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown key {name!r}{_suggest(str(key), valid)} (valid keys: {', '.join(valid)})")
        kwargs[key] = _coerce(value, hints[key], name)
    for f in fields.values():
        if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            name = f"{where}.{f.name}" if where else f.name
            raise ConfigError(f"missing required key {name!r}")
    return cls(**kwargs)


def _check_semantics(cfg: TrainConfig) -> None:
    if "name" not in cfg.model or not isinstance(cfg.model["name"], str):
        raise ConfigError("model.name: required (the registered architecture name)")
    if not cfg.stages:
        raise ConfigError("stages: at least one stage is required")
    if not cfg.data.train:
        raise ConfigError("data.train: at least one training source is required")
    names = [s.name for s in cfg.stages]
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", n) or n in ("last", "last_ema", "last_state"):
            raise ConfigError(f"stages: invalid stage name {n!r} (letters, digits, _ . - ; not 'last')")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"stages: stage names must be unique (repeated: {', '.join(dup)})")
    for i, s in enumerate(cfg.stages):
        where = f"stages.{i}"
        for key, low in (("steps", 1), ("batch_size", 1), ("crop_size", 1), ("warmup_steps", 0)):
            if getattr(s, key) < low:
                raise ConfigError(f"{where}.{key}: must be at least {low}, got {getattr(s, key)}")
        if s.lr <= 0:
            raise ConfigError(f"{where}.lr: must be positive, got {s.lr}")
        if s.min_lr < 0 or s.min_lr > s.lr:
            raise ConfigError(f"{where}.min_lr: must be between 0 and lr ({s.lr}), got {s.min_lr}")
        if s.ema is not None and not 0.0 < s.ema < 1.0:
            raise ConfigError(f"{where}.ema: decay must be between 0 and 1, got {s.ema}")
        if s.grad_clip is not None and s.grad_clip <= 0:
            raise ConfigError(f"{where}.grad_clip: must be positive, got {s.grad_clip}")
        if s.data:
            cfg.stage_data(s)  # validates the override keys
    for key in ("every",):
        if getattr(cfg.checkpoint, key) < 1:
            raise ConfigError(f"checkpoint.{key}: must be at least 1")
    if cfg.log.every < 1:
        raise ConfigError("log.every: must be at least 1")
    for n in cfg.validation.stages or []:
        if n not in names:
            raise ConfigError(f"validation.stages: no stage named {n!r}{_suggest(n, names)} (stages: {', '.join(names)})")
    if cfg.validation.every < 0:
        raise ConfigError("validation.every: must be 0 (stage ends only) or positive")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"threads: must be at least 1 (or null), got {cfg.threads}")
    if cfg.data.num_workers < 0:
        raise ConfigError("data.num_workers: must be 0 or positive")


def _absolutise(raw: dict[str, Any], base: Path) -> None:
    """Make the data paths, degradation preset files (``*.yaml``/``*.yml``) and ``init_weights`` of
    a raw config absolute (relative to ``base``), in place."""

    def fix_sources(sources: Any) -> None:
        if isinstance(sources, list):
            for s in sources:
                if isinstance(s, dict):
                    for k in _PATH_KEYS:
                        if isinstance(s.get(k), str):
                            s[k] = str((base / os.path.expanduser(s[k])).resolve())

    def fix_preset(data: dict[str, Any]) -> None:
        deg = data.get("degradation")
        if isinstance(deg, dict) and isinstance(deg.get("preset"), str) and deg["preset"].lower().endswith((".yaml", ".yml")):
            deg["preset"] = str((base / os.path.expanduser(deg["preset"])).resolve())

    if isinstance(raw.get("init_weights"), str):
        raw["init_weights"] = str((base / os.path.expanduser(raw["init_weights"])).resolve())
    data = raw.get("data")
    if isinstance(data, dict):
        fix_sources(data.get("train"))
        fix_sources(data.get("val"))
        fix_preset(data)
    for st in raw.get("stages") or []:
        if isinstance(st, dict) and isinstance(st.get("data"), dict):
            fix_sources(st["data"].get("train"))
            fix_sources(st["data"].get("val"))
            fix_preset(st["data"])


def config_from_dict(raw: dict[str, Any], *, base_dir: str | os.PathLike | None = None) -> TrainConfig:
    """Validate a raw mapping into a :class:`TrainConfig`.

    Args:
        raw: the parsed YAML mapping (not modified).
        base_dir: folder that relative data paths are relative to (default: working directory).

    Raises:
        ConfigError: unknown or misspelled keys, wrong types, or inconsistent values.
    """
    import copy

    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping of sections, got {type(raw).__name__}")
    _absolutise(raw, Path(base_dir) if base_dir is not None else Path.cwd())
    cfg = _build(TrainConfig, raw, "")
    if cfg.start_stage is not None:
        cfg.stages = cfg.stages[_stage_index(cfg.stages, "start_stage", cfg.start_stage, "stages") :]
    if cfg.end_stage is not None:
        cfg.stages = cfg.stages[: _stage_index(cfg.stages, "end_stage", cfg.end_stage, "stages run") + 1]
    _check_semantics(cfg)
    return cfg


def _stage_index(stages: list[StageConfig], key: str, name: str, listed: str) -> int:
    """Position of the stage ``name`` (the value of option ``key``) in ``stages``."""
    names = [s.name for s in stages]
    if name not in names:
        raise ConfigError(f"{key}: no stage named {name!r}{_suggest(name, names)} ({listed}: {', '.join(names)})")
    return names.index(name)


def config_to_dict(cfg: Any) -> Any:
    """Plain YAML-serialisable form of a config dataclass (tuples become lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


# --------------------------------------------------------------------------- files and overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.0.c=value"`` into ``(["a", "b", "0", "c"], value)``; the value is read as YAML.

    Raises:
        ConfigError: no ``=``, an empty key, or a value that is not valid YAML.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE (e.g. stages.0.lr=2e-4)")
    key, _, value = text.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {text!r}: value is not valid YAML ({str(err).splitlines()[0]})") from None
    return parts, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw config mapping (in place; returned for convenience).

    Missing intermediate mappings are created (``--set data.degradation.preset=x`` when
    ``degradation`` is null); list items are addressed by index (``stages.1.lr``) or by stage
    name (``stages.fusion.lr``). Keys are validated afterwards by :func:`config_from_dict`.

    Raises:
        ConfigError: a malformed override, or an index into a list that does not exist.
    """
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = raw
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                idx = _list_index(node, part, where)
                if last:
                    node[idx] = value
                else:
                    if node[idx] is None:
                        node[idx] = {}
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(f"--set {text!r}: {'.'.join(parts[:i])!r} is a value, not a section")
    return raw


def _list_index(node: list[Any], part: str, where: str) -> int:
    if part.lstrip("-").isdigit():
        idx = int(part)
        if not -len(node) <= idx < len(node):
            raise ConfigError(f"--set {where}: index {idx} out of range (the list has {len(node)} items)")
        return idx
    names = [n.get("name") for n in node if isinstance(n, dict)]
    if part in names:
        return names.index(part)
    valid = [str(n) for n in names if n is not None]
    raise ConfigError(f"--set {where}: no item named {part!r}{_suggest(part, valid)} (items: {', '.join(valid) or 'none'})")


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML config file into a mapping.

    Raises:
        ConfigError: missing file, invalid YAML, or not a mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read config ({err})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: invalid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a config must be a mapping of sections (model, data, stages, ...)")
    return raw


def load_config(
    path: str | os.PathLike,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    base_dir: str | os.PathLike | None = None,
) -> TrainConfig:
    """Read, override and validate a YAML config file.

    Args:
        path: YAML file.
        overrides: ``KEY=VALUE`` strings (see :func:`apply_overrides`).
        base_dir: folder that relative data paths are relative to (default: working directory).

    Raises:
        ConfigError: see :func:`read_yaml`, :func:`apply_overrides`, :func:`config_from_dict`;
            the message is prefixed with the file name.
    """
    raw = read_yaml(path)
    try:
        apply_overrides(raw, overrides)
        return config_from_dict(raw, base_dir=base_dir)
    except ConfigError as err:
        msg = str(err)
        raise ConfigError(msg if msg.startswith("--set") else f"{path}: {msg}") from None


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), encoding="utf-8")
    os.replace(tmp, p)
    return p
