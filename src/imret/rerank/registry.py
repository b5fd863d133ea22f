"""Re-rankers by name, and the ``NAME:key=value,...`` text form used on the command line."""
from __future__ import annotations

from typing import Callable, Sequence, Union

RERANKERS: dict[str, type] = {}


def register_reranker(name: str) -> Callable[[type], type]:
    """Class decorator: make a :class:`Reranker` subclass available as ``name``."""
    def decorate(cls: type) -> type:
        RERANKERS[name] = cls
        cls.name = name
        return cls
    return decorate


def _value(text: str) -> Union[int, float]:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_params(text: str, what: str) -> dict:
    """``'k=5,alpha=3'`` -> ``{'k': 5, 'alpha': 3}`` (numbers only); ``ValueError`` naming ``what``."""
    params: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{what}: expected key=value, got {part!r}")
        try:
            params[key] = _value(value.strip())
        except ValueError:
            raise ValueError(f"{what}: {key} must be a number, got {value.strip()!r}") from None
    return params


def parse_rerank(spec: Union[str, object]):
    """A re-ranker from ``'qe:k=2'``, ``'alpha-qe:k=3,alpha=3'``, ``'k-reciprocal:k1=10,k2=3,lambda=0.1'``
    (or a re-ranker instance, returned as is)."""
    from .base import Reranker
    from . import alpha_query_expansion, k_reciprocal, query_expansion  # noqa: F401  (register names)

    if isinstance(spec, Reranker):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"rerank must be a 'name:key=value,...' string or a Reranker, got {type(spec).__name__}")
    name, _, params_text = spec.partition(":")
    name = name.strip()
    if name not in RERANKERS:
        raise ValueError(f"unknown re-ranker {name!r}; known: {', '.join(sorted(RERANKERS))} "
                         "(syntax NAME:key=value,..., e.g. qe:k=2)")
    params = parse_params(params_text, f"rerank {name}")
    if name == "k-reciprocal" and "lambda" in params:
        params["lambda_value"] = params.pop("lambda")
    try:
        return RERANKERS[name](**params)
    except TypeError as error:
        raise ValueError(f"rerank {name}: {error}") from None


def parse_reranks(specs: Union[None, str, object, Sequence]) -> list:
    """A list of re-rankers (applied in order) from one spec, several, or None."""
    if specs is None:
        return []
    if isinstance(specs, (str,)) or not isinstance(specs, Sequence):
        specs = [specs]
    return [parse_rerank(spec) for spec in specs]
