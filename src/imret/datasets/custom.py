"""``CustomDataset``: images from a folder (class subfolders or flat) or from an annotation file."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from mmengine.fileio import join_path, list_from_file

from imret.registry import DATASETS

from .base_dataset import BaseDataset
from .image_files import (IMG_EXTENSIONS, list_images, no_images_error, normalize_extensions, require_file,
                          require_folder, scan_labelled_folder)


def prefix_dict(data_prefix: Union[str, dict]) -> dict:
    """mmengine's ``data_prefix`` dict from a string or a dict."""
    if isinstance(data_prefix, str):
        return dict(img_path=data_prefix)
    if isinstance(data_prefix, dict):
        return dict(data_prefix) if data_prefix else dict(img_path="")
    raise TypeError(f"data_prefix must be a str or a dict like dict(img_path='...'), got {type(data_prefix).__name__}")


def parse_annotation_lines(ann_file: str, with_label: bool) -> list[tuple[str, Optional[int]]]:
    """``(relative path, label or None)`` for each non-empty line ``'path label'`` or ``'path'``."""
    entries = []
    for number, line in enumerate(list_from_file(ann_file), start=1):
        line = line.strip()
        if not line:
            continue
        if not with_label:
            entries.append((line, None))
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ValueError(f"{ann_file}, line {number}: {line!r} has no label; write 'path label' "
                             "or build the dataset with with_label=False")
        path, label = parts
        try:
            entries.append((path, int(label)))
        except ValueError:
            raise ValueError(f"{ann_file}, line {number}: label {label!r} is not an integer class index") from None
    return entries


@DATASETS.register_module()
class CustomDataset(BaseDataset):
    """Images of a folder, labelled by class subfolder, or listed in an annotation file.

    Without ``ann_file``: with ``with_label=True`` every subfolder of ``data_root/data_prefix`` is a
    class (sorted names, ``metainfo['classes']``) and its images (searched recursively) get that
    class index as ``gt_label``; with ``with_label=False`` all images of the folder are taken,
    unlabelled. With ``ann_file``: one image per line, ``'relative/path label'`` (or ``'relative/path'``
    with ``with_label=False``), paths relative to ``data_root/data_prefix``.
    Samples are in sorted path order (class, then path) for folders and in file order for an
    ``ann_file``; each sample's ``sample_idx`` is its index in the dataset.
    """

    def __init__(self, data_root: str = "", data_prefix: Union[str, dict] = "", ann_file: str = "",
                 with_label: bool = True, extensions: Sequence[str] = IMG_EXTENSIONS,
                 metainfo: Optional[dict] = None, lazy_init: bool = False, pipeline: Sequence[Any] = (),
                 **kwargs: Any) -> None:
        self.with_label = bool(with_label)
        self.extensions = normalize_extensions(extensions)
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root,
                         data_prefix=prefix_dict(data_prefix), pipeline=pipeline, lazy_init=lazy_init,
                         **kwargs)

    @property
    def img_prefix(self) -> str:
        """Folder that image paths are relative to."""
        return self.data_prefix["img_path"]

    @property
    def CLASSES(self) -> Optional[tuple]:  # noqa: N802 (mmpretrain's attribute name)
        """Class names, if known."""
        return self._metainfo.get("classes")

    def _folder_samples(self) -> list[dict]:
        folder = self.img_prefix
        if not folder:
            raise ValueError(f"{type(self).__name__} needs data_root (or data_prefix) naming a folder of images, "
                             "or an ann_file listing them")
        if not self.with_label:
            require_folder(folder, "image folder")
            paths = list_images(folder, self.extensions)
            if not paths:
                raise no_images_error(folder, self.extensions)
            return [dict(img_path=join_path(folder, path)) for path in paths]
        folders, samples = scan_labelled_folder(folder, self.extensions)
        classes = self._metainfo.get("classes")
        if classes is None:
            classes = tuple(folders)
            self._metainfo["classes"] = classes
        unknown = sorted(set(folders) - set(classes))
        if unknown:
            raise ValueError(f"class subfolders {unknown} of {folder!r} are not in metainfo['classes'] "
                             f"{list(classes)}; add them or remove the folders")
        index = {name: i for i, name in enumerate(classes)}
        return [dict(img_path=join_path(folder, path), gt_label=index[name]) for path, name in samples]

    def _annotation_samples(self) -> list[dict]:
        require_file(self.ann_file, "ann_file", "give a path (relative to data_root) to a file with one "
                     "'path label' line per image, or leave ann_file empty to scan a folder")
        entries = parse_annotation_lines(self.ann_file, self.with_label)
        if not entries:
            raise ValueError(f"ann_file {self.ann_file!r} lists no images")
        prefix = self.img_prefix
        samples = []
        for path, label in entries:
            sample = dict(img_path=join_path(prefix, path) if prefix else path)
            if label is not None:
                sample["gt_label"] = label
            samples.append(sample)
        return samples

    def load_data_list(self) -> list[dict]:
        """Data infos with ``img_path`` and, when labelled, ``gt_label``."""
        if self.ann_file:
            return self._annotation_samples()
        return self._folder_samples()

    def extra_repr(self) -> list[str]:
        """Lines describing the dataset beyond mmengine's."""
        return [f"Prefix of images: \t{self.img_prefix}", f"With labels: \t{self.with_label}"]

    def __repr__(self) -> str:
        head = f"Dataset {type(self).__name__}"
        size = len(self) if self._fully_initialized else "not fully initialized"
        lines = [head, f"    Number of samples: \t{size}"]
        if self.CLASSES is not None:
            lines.append(f"    Number of categories: \t{len(self.CLASSES)}")
        lines.extend("    " + line for line in self.extra_repr())
        return "\n".join(lines)

