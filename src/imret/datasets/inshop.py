"""``InShop``: the DeepFashion In-Shop Clothes Retrieval benchmark."""
from __future__ import annotations

from typing import Any, Union

from mmengine.fileio import join_path, list_from_file

from imret.registry import DATASETS

from .base_dataset import BaseDataset
from .custom import prefix_dict
from .image_files import require_file, require_folder

SPLITS = ("train", "query", "gallery")
EXPECTED_LAYOUT = ("expected In-Shop layout: <data_root>/Img/img/<...>.jpg and "
                   "<data_root>/Eval/list_eval_partition.txt (first line: image count, second line: "
                   "'image_name item_id evaluation_status', then one 'img/... id_XXXXXXXX train|query|gallery' "
                   "line per image)")


def read_partition(ann_file: str) -> list[tuple[str, str, str]]:
    """``(image_name, item_id, status)`` records of an In-Shop ``list_eval_partition.txt``."""
    lines = list_from_file(ann_file)
    records = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[2] not in SPLITS:
            raise ValueError(f"{ann_file}, line {number}: expected 'image_name item_id train|query|gallery', "
                             f"got {line.strip()!r}")
        records.append((fields[0], fields[1], fields[2]))
    return records


@DATASETS.register_module()
class InShop(BaseDataset):
    """DeepFashion In-Shop, one of the splits ``'train'``, ``'query'`` or ``'gallery'``.

    - train: ``gt_label`` is the class index of the item id (ids numbered in order of first
      appearance among training images); ``metainfo['class_number']`` is the number of items.
    - query: ``gt_label`` lists the gallery indices of the images of the same item (the
      gallery-index form of retrieval ground truth); ``metainfo['sample_number']``.
    - gallery: images only, ``sample_idx`` is the gallery index; ``metainfo['sample_number']``.
    """

    def __init__(self, data_root: str, split: str = "train", data_prefix: Union[str, dict] = "Img",
                 ann_file: str = "Eval/list_eval_partition.txt", **kwargs: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f"InShop split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.split = split
        super().__init__(data_root=data_root, data_prefix=prefix_dict(data_prefix), ann_file=ann_file, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Data infos of the chosen split."""
        if self.data_root:
            require_folder(self.data_root, "In-Shop data_root")
        require_file(self.ann_file, "In-Shop partition file", EXPECTED_LAYOUT)
        prefix = self.data_prefix["img_path"]
        records = read_partition(self.ann_file)

        train_ids: dict[str, int] = {}
        gallery_of_item: dict[str, list[int]] = {}
        train, gallery, queries = [], [], []
        for image_name, item_id, status in records:
            img_path = join_path(prefix, image_name) if prefix else image_name
            if status == "train":
                label = train_ids.setdefault(item_id, len(train_ids))
                train.append(dict(img_path=img_path, gt_label=label))
            elif status == "gallery":
                gallery_of_item.setdefault(item_id, []).append(len(gallery))
                gallery.append(dict(img_path=img_path))
            else:
                queries.append((img_path, item_id))

        if self.split == "train":
            self._metainfo["class_number"] = len(train_ids)
            return train
        if self.split == "gallery":
            self._metainfo["sample_number"] = len(gallery)
            return gallery
        self._metainfo["sample_number"] = len(queries)
        return [dict(img_path=path, gt_label=list(gallery_of_item.get(item_id, []))) for path, item_id in queries]
