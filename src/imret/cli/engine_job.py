"""Running an mmengine job for ``imret train`` / ``imret test``: bad input becomes one line and exit 1."""
from __future__ import annotations

import pickle
from typing import Any, Callable

from .bad_input import EXIT_OK, fail


def run_engine_job(command: str, build: Callable[[], Any], work: Callable[[Any], Any],
                   unreadable_hint: str = "") -> tuple[int, Any]:
    """``(exit code, work(runner))`` where ``build()`` returns the runner; every process leaves its group.

    Config and data errors while building, unreadable images and refused checkpoints while working
    are reported as bad input (exit code 1, result None).
    """
    from imret.datasets.transforms import UnreadableImageError
    from imret.engine.checkpoint_safety import refusal_reason
    from imret.engine.runner import EngineConfigError, shutdown_distributed

    try:
        runner = build()
    except (EngineConfigError, FileNotFoundError, KeyError) as error:
        shutdown_distributed()
        return fail(command, str(error)), None
    try:
        result = work(runner)
    except UnreadableImageError as error:
        shutdown_distributed()
        return fail(command, f"{error}{unreadable_hint}"), None
    except pickle.UnpicklingError as error:
        shutdown_distributed()
        return fail(command, f"checkpoint {runner.cfg.get('load_from')} was refused by weights-only loading "
                             f"({refusal_reason(error)}); imret loads only checkpoints made of tensors and "
                             "the few data types its own training writes"), None
    except BaseException:
        shutdown_distributed()
        raise
    shutdown_distributed(wait=True)
    return EXIT_OK, result
