"""``CheckpointHook``: mmengine's checkpoint hook, but a kill while saving never loses every checkpoint.

mmengine's hook deletes the oldest checkpoint (``max_keep_ckpts``) and the previous best one *before*
it writes the new one, with a plain write; a kill in between leaves no checkpoint at all, or a
truncated one. imret registers this subclass under the same name, so configs using
``dict(type='CheckpointHook', ...)`` get it: each checkpoint is written to a temporary file beside its
final name, flushed to disk and renamed into place, and older checkpoints are deleted only after that.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from imret.registry import HOOKS
from imret.utils.atomic import atomic_output

#: Names of the temporary files a checkpoint is written to (``atomic_output``'s naming).
TEMP_PATTERN = ".*.pth.*.tmp"


class _DeferredRemoval:
    """A file backend whose ``remove``/``rmtree`` are recorded instead of done; the rest passes through."""

    def __init__(self, backend: Any, pending: list) -> None:
        self._backend = backend
        self._pending = pending

    def remove(self, path: str) -> None:
        self._pending.append(("remove", path))

    def rmtree(self, path: str) -> None:
        self._pending.append(("rmtree", path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


class _AtomicSaving:
    """A runner whose ``save_checkpoint`` writes local files atomically; the rest passes through."""

    def __init__(self, runner: Any, saved: set) -> None:
        self._runner = runner
        self._saved = saved

    def save_checkpoint(self, out_dir: str, filename: str, *args: Any, **kwargs: Any) -> None:
        if "://" in str(out_dir):  # remote storage: the backend's own put
            self._runner.save_checkpoint(out_dir, filename, *args, **kwargs)
            return
        final = Path(out_dir) / filename
        with atomic_output(final, durable=True) as temp:
            self._runner.save_checkpoint(out_dir, Path(temp).name, *args, **kwargs)
        self._saved.add(os.path.normpath(final))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


@HOOKS.register_module()
class CheckpointHook(MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with atomic saves and deletions after the save.

    Temporary files left by a killed save are removed when training starts again.
    """

    _depth = 0
    _pending: list = []
    _saved: set = set()

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and "://" not in str(self.out_dir) and Path(self.out_dir).is_dir():
            for leftover in Path(self.out_dir).glob(TEMP_PATTERN):
                leftover.unlink(missing_ok=True)

    def _save_checkpoint_with_step(self, runner, step, meta):
        with self._save_then_remove(runner) as saving:
            super()._save_checkpoint_with_step(saving, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._save_then_remove(runner) as saving:
            super()._save_best_checkpoint(saving, metrics)

    @contextmanager
    def _save_then_remove(self, runner) -> Iterator[Any]:
        """Saves inside the block are atomic; deletions asked for inside it happen when it succeeds."""
        if self._depth:
            self._depth += 1
            try:
                yield runner
            finally:
                self._depth -= 1
            return
        backend = self.file_backend
        self._pending, self._saved, self._depth = [], set(), 1
        self.file_backend = _DeferredRemoval(backend, self._pending)
        try:
            yield _AtomicSaving(runner, self._saved)
        except BaseException:
            self._pending.clear()
            raise
        finally:
            self.file_backend, self._depth = backend, 0
        for action, path in self._pending:
            if os.path.normpath(str(path)) in self._saved:
                continue
            if action == "remove" and backend.isfile(path):
                backend.remove(path)
            elif action == "rmtree" and backend.isdir(path):
                backend.rmtree(path)
        self._pending = []
