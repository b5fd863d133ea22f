from .prepare_proto import PrepareProtoBeforeValLoopHook

__all__ = ["PrepareProtoBeforeValLoopHook"]
