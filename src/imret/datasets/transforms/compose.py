"""``Compose``: run a list of transforms (config dicts or callables) in order."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

from imret.registry import TRANSFORMS

from .decode_plan import link_resize_plan

TransformLike = Union[dict, Callable[[dict], Optional[dict]]]


@TRANSFORMS.register_module()
class Compose:
    """Build each dict through imret's ``TRANSFORMS`` and apply all in order.

    A transform returning ``None`` stops the pipeline and ``Compose`` returns ``None`` (the sample is
    dropped). ``None`` or an empty list is the identity. A ``LoadImageFromFile`` followed by a resize
    learns the resize's output size (see ``link_resize_plan``).
    """

    def __init__(self, transforms: Optional[Sequence[TransformLike]] = None) -> None:
        if transforms is not None and (isinstance(transforms, (dict, str)) or not isinstance(transforms, Sequence)):
            transforms = [transforms]
        self.transforms: list = []
        for index, item in enumerate(transforms or []):
            if isinstance(item, dict):
                item = TRANSFORMS.build(item)
            if not callable(item):
                raise TypeError(f"Compose: transform #{index} must be a config dict or a callable; "
                                f"got {type(item).__name__}")
            self.transforms.append(item)
        link_resize_plan(self.transforms)

    def __call__(self, results: dict) -> Optional[dict]:
        for transform in self.transforms:
            results = transform(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        body = "".join(f"\n    {transform!r}," for transform in self.transforms)
        return f"Compose([{body}\n])"
