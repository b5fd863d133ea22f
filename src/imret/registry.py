"""imret's registries: mmengine child registries under the ``imret`` scope.

Config ``type`` names resolve here first, then in mmengine's root registries.
An unknown name raises ``KeyError`` listing the names that are known.
"""
from __future__ import annotations

from typing import Any, Iterable

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VIS_BACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry, build_from_cfg, build_model_from_cfg

SCOPE = "imret"


def known_names(registry: Registry) -> list[str]:
    """All type names reachable from ``registry`` (its own and its ancestors')."""
    names: set[str] = set()
    current: Registry | None = registry
    while current is not None:
        current.import_from_location()
        names.update(current.module_dict)
        current = current.parent
    return sorted(names)


def check_type_name(cfg: Any, registry: Registry) -> None:
    """Raise ``KeyError`` listing the known names when ``cfg['type']`` is an unknown string."""
    if not isinstance(cfg, dict):
        return
    obj_type = cfg.get("type")
    if isinstance(obj_type, str) and registry.get(obj_type) is None:
        raise KeyError(
            f"{obj_type!r} is not a known {registry.name} type. "
            f"Known {registry.name} types: {', '.join(known_names(registry))}"
        )


def _build_listing_known(cfg: Any, registry: Registry, default_args: dict | None = None) -> Any:
    check_type_name(cfg, registry)
    return build_from_cfg(cfg, registry, default_args)


def _build_model_listing_known(cfg: Any, registry: Registry, default_args: dict | None = None) -> Any:
    configs: Iterable[Any] = cfg if isinstance(cfg, list) else [cfg]
    for item in configs:
        check_type_name(item, registry)
    return build_model_from_cfg(cfg, registry, default_args)


def _child(name: str, parent: Registry, locations: list[str], model: bool = False) -> Registry:
    build = _build_model_listing_known if model else _build_listing_known
    return Registry(name, parent=parent, scope=SCOPE, locations=locations, build_func=build)


MODELS = _child("model", MMENGINE_MODELS, ["imret.models"], model=True)
MODEL_WRAPPERS = _child("model_wrapper", MMENGINE_MODEL_WRAPPERS, ["imret.models"])
WEIGHT_INITIALIZERS = _child("weight initializer", MMENGINE_WEIGHT_INITIALIZERS, ["imret.models"])
BATCH_AUGMENTS = Registry("batch augment", scope=SCOPE, locations=["imret.models.preprocessors"],
                          build_func=_build_listing_known)
DATASETS = _child("dataset", MMENGINE_DATASETS, ["imret.datasets.registration"])
DATA_SAMPLERS = _child("data sampler", MMENGINE_DATA_SAMPLERS, ["imret.datasets.registration"])
TRANSFORMS = _child("transform", MMENGINE_TRANSFORMS, ["imret.datasets.transforms.registration"])
METRICS = _child("metric", MMENGINE_METRICS, ["imret.evaluation"])
EVALUATOR = _child("evaluator", MMENGINE_EVALUATOR, ["imret.evaluation"])
HOOKS = _child("hook", MMENGINE_HOOKS, ["imret.engine"])
LOOPS = _child("loop", MMENGINE_LOOPS, ["imret.engine"])
RUNNERS = _child("runner", MMENGINE_RUNNERS, ["imret.engine"])
OPTIMIZERS = _child("optimizer", MMENGINE_OPTIMIZERS, ["imret.engine"])
OPTIM_WRAPPERS = _child("optim_wrapper", MMENGINE_OPTIM_WRAPPERS, ["imret.engine"])
OPTIM_WRAPPER_CONSTRUCTORS = _child("optimizer wrapper constructor", MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    ["imret.engine"])
PARAM_SCHEDULERS = _child("parameter scheduler", MMENGINE_PARAM_SCHEDULERS, ["imret.engine"])
LOG_PROCESSORS = _child("log_processor", MMENGINE_LOG_PROCESSORS, ["imret.engine"])
VISUALIZERS = _child("visualizer", MMENGINE_VISUALIZERS, ["imret.visualization"])
VIS_BACKENDS = _child("vis_backend", MMENGINE_VIS_BACKENDS, ["imret.engine"])

__all__ = [
    "SCOPE", "MODELS", "MODEL_WRAPPERS", "WEIGHT_INITIALIZERS", "BATCH_AUGMENTS", "DATASETS",
    "DATA_SAMPLERS", "TRANSFORMS", "METRICS", "EVALUATOR", "HOOKS", "LOOPS", "RUNNERS", "OPTIMIZERS",
    "OPTIM_WRAPPERS", "OPTIM_WRAPPER_CONSTRUCTORS", "PARAM_SCHEDULERS", "LOG_PROCESSORS",
    "VISUALIZERS", "VIS_BACKENDS", "known_names", "check_type_name",
]
