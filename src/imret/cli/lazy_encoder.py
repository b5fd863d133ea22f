"""An ``encode`` function for ``sync_folder`` that loads its model only when something needs encoding."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from .output import status

if TYPE_CHECKING:
    import numpy as np


class LazyEncoder:
    """``encode(paths) -> (vectors, {path: reason})``; the model is built at the first call.

    ``provenance`` is what the caller promised the index (from ``model_provenance``); the built
    model must agree with it, so vectors never land in an index under another model's name.
    """

    def __init__(self, model_name: str, provenance: dict, batch_size: int = 32, tta: Optional[dict] = None,
                 **model_options: Any):
        self.model_name = model_name
        self.tta = dict(tta or {})
        self.provenance = provenance
        self.batch_size = batch_size
        self.model_options = model_options  # for get_model: pretrained, runtime, device
        self.model: Any = None
        self._encode: Optional[Callable[[Sequence[str]], tuple[np.ndarray, dict[str, str]]]] = None

    def load(self) -> None:
        """Build the model now (logs ``loading model NAME ...``); a failure raises ``EncoderUnavailableError``."""
        from imret.apis.encode import make_encoder
        from imret.apis.provenance import describe_difference
        from imret.apis.tta import with_tta
        from imret.apis.zoo import get_model
        from imret.index.errors import EncoderUnavailableError

        status("loading model %s ...", self.model_name)
        try:
            model = with_tta(get_model(self.model_name, **self.model_options), **self.tta)
        except Exception as error:  # sync_folder must stop, not count every image as failed
            reason = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            raise EncoderUnavailableError(f"model {self.model_name} could not be loaded: "
                                          f"{reason or type(error).__name__}") from error
        changed = describe_difference(self.provenance, model.provenance)
        if changed:
            raise EncoderUnavailableError(f"model {self.model_name!r} was built with a provenance other than the one "
                               f"computed for the index (differs in {changed})")
        self.model = model
        self._encode = make_encoder(model, batch_size=self.batch_size)

    def __call__(self, paths: Sequence[str]) -> tuple[np.ndarray, dict[str, str]]:
        if self._encode is None:
            self.load()
        assert self._encode is not None
        return self._encode(paths)
