"""Training engine: YAML configs, named stages, safetensors checkpoints, exact resume, torchrun DDP.

Quick use::

    from mmfuse.train import train, export_run
    result = train("configs/fusion-unet-tiny.yaml", ["stages.0.steps=200"], out="runs/unet")
    export_run(result.run_dir, "unet.safetensors")

or ``mmfuse train CONFIG``, ``torchrun --nproc_per_node N -m mmfuse.train CONFIG`` and
``mmfuse export RUN -o FILE``. ``docs/training.md`` describes the model contract and every
config key.
"""
from mmfuse.train.config import TrainConfig, apply_overrides, config_from_dict, load_config, save_config
from mmfuse.train.engine import TrainingDiverged, TrainResult, build_model, prepare_batch, stage_forward, train
from mmfuse.train.export import export_run

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "apply_overrides",
    "build_model",
    "config_from_dict",
    "export_run",
    "load_config",
    "prepare_batch",
    "save_config",
    "stage_forward",
    "train",
]
