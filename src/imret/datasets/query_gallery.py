"""``QueryGalleryDataset``: bring-your-own retrieval evaluation data (queries, gallery, labels).

Give a CSV or JSON list (format: :mod:`imret.datasets.query_gallery_file`, and ``docs/datasets.md``)
or, without ``ann_file``, a folder of class subfolders whose every image queries all the others.
Build it twice, ``split='query'`` for the evaluation loader and ``split='gallery'`` for the
retriever's prototype, with the same other arguments.

Query samples carry the ground truth in gallery-index form: ``gt_label`` = indices of the gallery
items with the query's label, and metainfo ``ignore_gallery_idx`` = gallery indices of the query's
own image (same file), which the retrieval metrics remove from the ranking and the ground truth.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

from mmengine.fileio import join_path

from imret.registry import DATASETS

from .base_dataset import BaseDataset
from .custom import prefix_dict
from .gallery_truth import labels_to_gallery_indices
from .image_files import IMG_EXTENSIONS, normalize_extensions, require_file, scan_labelled_folder
from .query_gallery_file import Record, read_query_gallery_file

SPLITS = ("query", "gallery")


def _identity(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


@DATASETS.register_module()
class QueryGalleryDataset(BaseDataset):
    """The query or the gallery side of a retrieval evaluation set.

    Args:
        ann_file: ``.csv`` or ``.json`` list of images with labels and roles; relative image paths are
            relative to ``data_root/data_prefix``, or to the list's folder when both are empty. Empty:
            ``data_root/data_prefix`` is a folder of class subfolders, every image being both a query
            and a gallery item (the same order as ``CustomDataset`` over that folder).
        split: ``'query'`` or ``'gallery'``.
        exclude_self: a query is not matched against its own image (default ``True``).
        extensions: image extensions for the folder form.

    Gallery samples carry ``img_path`` and ``label`` (text, ``None`` for distractors); query samples
    also ``gt_label`` (gallery indices) and ``ignore_gallery_idx``. ``metainfo``: ``classes`` (sorted
    label texts), ``num_queries``, ``num_gallery``.
    """

    def __init__(self, ann_file: str = "", split: str = "query", data_root: str = "",
                 data_prefix: Union[str, dict] = "", exclude_self: bool = True,
                 extensions: Sequence[str] = IMG_EXTENSIONS, **kwargs: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f"QueryGalleryDataset split must be 'query' or 'gallery', got {split!r}")
        self.split = split
        self.exclude_self = bool(exclude_self)
        self.extensions = normalize_extensions(extensions)
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=prefix_dict(data_prefix), **kwargs)

    def _records(self) -> tuple[list[Record], str]:
        prefix = self.data_prefix["img_path"]
        if self.ann_file:
            require_file(self.ann_file, "query/gallery list (ann_file)",
                         "see docs/datasets.md for the CSV and JSON formats")
            return read_query_gallery_file(self.ann_file), prefix or os.path.dirname(self.ann_file)
        if not prefix:
            raise ValueError("QueryGalleryDataset needs an ann_file (CSV/JSON list) or a data_root folder of "
                             "class subfolders")
        _, samples = scan_labelled_folder(prefix, self.extensions)
        return [(path, label, "both") for path, label in samples], prefix

    def load_data_list(self) -> list[dict]:
        """Data infos of the chosen side."""
        records, base = self._records()
        resolved = [(join_path(base, path) if base else path, label, role) for path, label, role in records]
        gallery = [(path, label) for path, label, role in resolved if role in ("gallery", "both")]
        queries = [(path, label) for path, label, role in resolved if role in ("query", "both")]
        if not gallery:
            raise ValueError(f"{self.ann_file or base}: no gallery images (split 'gallery' or 'both')")
        if not queries:
            raise ValueError(f"{self.ann_file or base}: no query images (split 'query' or 'both')")
        self._metainfo.update(classes=tuple(sorted({label for _, label, _ in resolved if label is not None})),
                              num_queries=len(queries), num_gallery=len(gallery))
        if self.split == "gallery":
            return [dict(img_path=path, label=label) for path, label in gallery]

        unlabelled = [path for path, label in queries if label is None]
        if unlabelled:
            raise ValueError(f"{self.ann_file or base}: query {unlabelled[0]!r} has no label; every query needs "
                             "one (only gallery distractors may go without)")
        own = [[] for _ in queries]
        if self.exclude_self:
            where: dict[str, list[int]] = {}
            for index, (path, _) in enumerate(gallery):
                where.setdefault(_identity(path), []).append(index)
            own = [where.get(_identity(path), []) for path, _ in queries]
        truth = labels_to_gallery_indices([label for _, label in queries], [label for _, label in gallery], own)
        return [dict(img_path=path, label=label, gt_label=matches, ignore_gallery_idx=list(ignored))
                for (path, label), matches, ignored in zip(queries, truth, own)]

    def gallery_indices(self, index: int) -> Optional[list[int]]:
        """Ground-truth gallery indices of query ``index`` (``None`` on the gallery side)."""
        return self.get_data_info(index).get("gt_label") if self.split == "query" else None
