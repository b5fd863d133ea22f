"""InShop on a tiny fake DeepFashion In-Shop tree."""
from __future__ import annotations

from pathlib import Path

import pytest

from imret.datasets import InShop
from imret.registry import DATASETS

PARTITION = [
    ("img/WOMEN/Dresses/id_00000002/02_1_front.jpg", "id_00000002", "train"),
    ("img/WOMEN/Dresses/id_00000002/02_2_side.jpg", "id_00000002", "train"),
    ("img/MEN/Tees/id_00000007/01_1_front.jpg", "id_00000007", "gallery"),
    ("img/MEN/Tees/id_00000007/01_2_side.jpg", "id_00000007", "query"),
    ("img/WOMEN/Skirts/id_00000001/02_1_front.jpg", "id_00000001", "train"),
    ("img/MEN/Tees/id_00000009/01_1_front.jpg", "id_00000009", "gallery"),
    ("img/MEN/Tees/id_00000007/01_3_back.jpg", "id_00000007", "gallery"),
    ("img/MEN/Tees/id_00000009/01_4_full.jpg", "id_00000009", "query"),
    ("img/MEN/Tees/id_00000007/01_7_add.jpg", "id_00000007", "query"),
]


@pytest.fixture
def inshop_root(tmp_path: Path) -> Path:
    (tmp_path / "Eval").mkdir()
    lines = [str(len(PARTITION)), "image_name item_id evaluation_status"]
    lines += [f"{name}    {item}    {status}" for name, item, status in PARTITION]
    (tmp_path / "Eval" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def _paths(dataset, root):
    return [str(Path(dataset.get_data_info(i)["img_path"]).relative_to(root / "Img")) for i in range(len(dataset))]


def test_train_split_labels_items_in_order_of_first_appearance(inshop_root):
    train = InShop(data_root=str(inshop_root), split="train")
    assert _paths(train, inshop_root) == [PARTITION[0][0], PARTITION[1][0], PARTITION[4][0]]
    assert [train.get_data_info(i)["gt_label"] for i in range(3)] == [0, 0, 1]
    assert train.metainfo["class_number"] == 2


def test_gallery_and_query_splits_give_gallery_index_ground_truth(inshop_root):
    gallery = DATASETS.build(dict(type="InShop", data_root=str(inshop_root), split="gallery"))
    assert _paths(gallery, inshop_root) == [PARTITION[2][0], PARTITION[5][0], PARTITION[6][0]]
    assert [gallery.get_data_info(i)["sample_idx"] for i in range(3)] == [0, 1, 2]
    assert gallery.metainfo["sample_number"] == 3
    query = InShop(data_root=str(inshop_root), split="query")
    assert _paths(query, inshop_root) == [PARTITION[3][0], PARTITION[7][0], PARTITION[8][0]]
    # item 7 has gallery images 0 and 2, item 9 has gallery image 1
    assert [query.get_data_info(i)["gt_label"] for i in range(3)] == [[0, 2], [1], [0, 2]]
    assert query.metainfo["sample_number"] == 3


def test_missing_partition_file_and_bad_lines_are_explained(tmp_path, inshop_root):
    (tmp_path / "no_partition").mkdir()
    with pytest.raises(FileNotFoundError, match=r"list_eval_partition.txt.*expected In-Shop layout.*Img/img"):
        InShop(data_root=str(tmp_path / "no_partition"), split="query")
    with pytest.raises(FileNotFoundError, match="data_root"):
        InShop(data_root=str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="split must be one of train, query, gallery"):
        InShop(data_root=str(inshop_root), split="val")
    partition = inshop_root / "Eval" / "list_eval_partition.txt"
    partition.write_text(partition.read_text() + "img/x.jpg id_1 validation\n")
    with pytest.raises(ValueError, match=r"line 12: expected 'image_name item_id train\|query\|gallery'"):
        InShop(data_root=str(inshop_root), split="train")
