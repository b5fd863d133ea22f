"""``PrepareProtoBeforeValLoopHook``: fresh gallery vectors before every validation and test run."""
from __future__ import annotations

import warnings

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from imret.registry import HOOKS


@HOOKS.register_module()
class PrepareProtoBeforeValLoopHook(Hook):
    """Re-extract a retriever's prototype (gallery) vectors with the current weights.

    Training changes the image encoder, so vectors extracted earlier no longer match the queries'
    features. Before each validation loop (and each test loop) this hook asks the retriever to prepare
    its prototype again, in eval mode, and restores the model's train/eval mode afterwards.
    Models that are not retrievers are left alone, with a warning.

    It runs at the start of the validation/test epoch with a low priority, i.e. after hooks such as
    ``SyncBuffersHook`` have made every process's weights and BN statistics agree.
    """

    priority = "LOW"

    def before_val_epoch(self, runner) -> None:
        """Prepare the prototype before the validation queries are encoded."""
        self._prepare(runner)

    def before_test_epoch(self, runner) -> None:
        """Prepare the prototype before the test queries are encoded."""
        self._prepare(runner)

    @staticmethod
    def _prepare(runner) -> None:
        from imret.models.retrievers import BaseRetriever  # late: imret.models may import imret.engine

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not isinstance(model, BaseRetriever):
            warnings.warn(f"PrepareProtoBeforeValLoopHook only works with retrievers (BaseRetriever), not "
                          f"{type(model).__name__}; the hook does nothing", stacklevel=2)
            return
        was_training = model.training
        model.eval()
        try:
            model.prototype_inited = False
            model.prepare_prototype()
        finally:
            model.train(was_training)
