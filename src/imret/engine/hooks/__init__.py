from .checkpoint import CheckpointHook
from .prepare_proto import PrepareProtoBeforeValLoopHook
from .visualization import VisualizationHook

__all__ = ["CheckpointHook", "PrepareProtoBeforeValLoopHook", "VisualizationHook"]
