from .checkpoint_files import CheckpointFileError, check_checkpoint_readable, latest_checkpoint
from .checkpoint_safety import (CHECKPOINT_SAFE_GLOBALS, install_checkpoint_safety, load_checkpoint_file,
                                reduce_history_buffer, refusal_reason)
from .config_files import ConfigNotFoundError, resolve_config_path, resolve_data_paths, shipped_config_names
from .hooks import CheckpointHook, PrepareProtoBeforeValLoopHook, VisualizationHook
from .runner import (EngineConfigError, build_runner, check_datasets, configure_dataloaders, configure_testing,
                     configure_training, default_work_dir, load_config, prepare_cpu_distributed,
                     shutdown_distributed)

__all__ = [
    "CheckpointFileError", "check_checkpoint_readable", "latest_checkpoint",
    "CHECKPOINT_SAFE_GLOBALS", "install_checkpoint_safety", "load_checkpoint_file", "reduce_history_buffer",
    "refusal_reason", "ConfigNotFoundError", "resolve_config_path", "resolve_data_paths",
    "shipped_config_names", "CheckpointHook", "PrepareProtoBeforeValLoopHook", "VisualizationHook",
    "EngineConfigError", "build_runner", "check_datasets", "configure_dataloaders", "configure_testing",
    "configure_training", "default_work_dir", "load_config", "prepare_cpu_distributed", "shutdown_distributed",
]
