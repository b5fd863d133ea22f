from .checkpoint_safety import (CHECKPOINT_SAFE_GLOBALS, install_checkpoint_safety, load_checkpoint_file,
                                reduce_history_buffer, refusal_reason)
from .hooks import CheckpointHook, PrepareProtoBeforeValLoopHook, VisualizationHook
from .runner import (EngineConfigError, build_runner, check_datasets, configure_testing, configure_training,
                     default_work_dir, load_config, prepare_cpu_distributed, shutdown_distributed)

__all__ = [
    "CHECKPOINT_SAFE_GLOBALS", "install_checkpoint_safety", "load_checkpoint_file", "reduce_history_buffer",
    "refusal_reason", "CheckpointHook", "PrepareProtoBeforeValLoopHook", "VisualizationHook",
    "EngineConfigError", "build_runner", "check_datasets", "configure_testing", "configure_training", "default_work_dir", "load_config", "prepare_cpu_distributed",
    "shutdown_distributed",
]
