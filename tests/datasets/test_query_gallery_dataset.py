"""QueryGalleryDataset (CSV, JSON, folder) and labels_to_gallery_indices."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mmengine.evaluator import Evaluator
from PIL import Image

from imret.datasets import CustomDataset, QueryGalleryDataset, labels_to_gallery_indices
from imret.evaluation import RetrievalAveragePrecision, RetrievalRecall
from imret.structures import DataSample


def test_labels_to_gallery_indices_plain_self_and_explicit_exclusion():
    query, gallery = ["a", "b", "c"], ["b", "a", "a", None, "b"]
    assert labels_to_gallery_indices(query, gallery) == [[1, 2], [0, 4], []]
    same = ["x", "y", "x", "x"]
    assert labels_to_gallery_indices(same, same, exclude_self=True) == [[2, 3], [], [0, 3], [0, 2]]
    assert labels_to_gallery_indices(query, gallery, exclude_self=[[2], [], [0]]) == [[1], [0, 4], []]
    with pytest.raises(ValueError, match="3 queries and 5 gallery items"):
        labels_to_gallery_indices(query, gallery, exclude_self=True)


@pytest.fixture
def csv_list(tmp_path: Path) -> Path:
    text = ("path,label,split,notes\n"
            "img/q1.jpg,shoe,query,first\n"
            "img/g1.jpg,shoe,gallery,\n"
            "img/b1.jpg,bag,both,\n"
            "img/b2.jpg,bag,both,\n"
            "img/d1.jpg,,gallery,distractor\n"
            "img/b3.jpg,bag,,\n")
    path = tmp_path / "lists" / "eval.csv"
    path.parent.mkdir()
    path.write_text(text)
    return path


def test_csv_gallery_and_query_sides(csv_list):
    gallery = QueryGalleryDataset(ann_file=str(csv_list), split="gallery")
    base = csv_list.parent
    assert [gallery.get_data_info(i)["img_path"] for i in range(len(gallery))] == \
        [str(base / p) for p in ("img/g1.jpg", "img/b1.jpg", "img/b2.jpg", "img/d1.jpg", "img/b3.jpg")]
    assert gallery.get_data_info(3)["label"] is None
    assert gallery.metainfo["classes"] == ("bag", "shoe") and gallery.metainfo["num_gallery"] == 5
    query = QueryGalleryDataset(ann_file=str(csv_list), split="query")
    infos = [query.get_data_info(i) for i in range(len(query))]
    assert [Path(info["img_path"]).name for info in infos] == ["q1.jpg", "b1.jpg", "b2.jpg", "b3.jpg"]
    assert [info["gt_label"] for info in infos] == [[0], [2, 4], [1, 4], [1, 2]]
    assert [info["ignore_gallery_idx"] for info in infos] == [[], [1], [2], [4]]
    assert [info["sample_idx"] for info in infos] == [0, 1, 2, 3]
    keep_self = QueryGalleryDataset(ann_file=str(csv_list), split="query", exclude_self=False)
    assert keep_self.get_data_info(1)["gt_label"] == [1, 2, 4]
    assert keep_self.get_data_info(1)["ignore_gallery_idx"] == []


def test_json_forms_and_data_root(tmp_path):
    records = [{"path": "a.jpg", "label": 1}, {"path": "b.jpg", "label": 1, "split": "gallery"},
               {"path": "c.jpg", "label": 2}]
    (tmp_path / "list.json").write_text(json.dumps(records))
    query = QueryGalleryDataset(ann_file="list.json", data_root=str(tmp_path), data_prefix="photos")
    assert query.get_data_info(0)["img_path"] == str(tmp_path / "photos" / "a.jpg")
    assert [query.get_data_info(i)["gt_label"] for i in range(2)] == [[1], []]
    split = {"query": [{"path": "a.jpg", "label": "x"}],
             "gallery": [{"path": "a.jpg", "label": "x"}, {"path": "z.jpg", "label": "x"}]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    query = QueryGalleryDataset(ann_file=str(tmp_path / "split.json"))
    # the same file in both lists is the query itself
    assert query.get_data_info(0)["gt_label"] == [1] and query.get_data_info(0)["ignore_gallery_idx"] == [0]


def test_folder_form_matches_custom_dataset_order(tmp_path):
    for relative in ["b/2.png", "b/1.png", "a/1.png"]:
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        Image.new("RGB", (2, 2)).save(tmp_path / relative)
    gallery = QueryGalleryDataset(data_root=str(tmp_path), split="gallery")
    custom = CustomDataset(data_root=str(tmp_path))
    assert [gallery.get_data_info(i)["img_path"] for i in range(3)] == \
        [custom.get_data_info(i)["img_path"] for i in range(3)]
    query = QueryGalleryDataset(data_root=str(tmp_path))
    assert [query.get_data_info(i)["gt_label"] for i in range(3)] == [[], [2], [1]]
    assert [query.get_data_info(i)["ignore_gallery_idx"] for i in range(3)] == [[0], [1], [2]]


def test_query_ground_truth_drives_metrics_like_the_label_form(tmp_path):
    labels = ["a", "a", "b", "a", "b", "b"]
    (tmp_path / "all.csv").write_text("path,label\n" + "".join(f"{i}.jpg,{x}\n" for i, x in enumerate(labels)))
    query = QueryGalleryDataset(ann_file=str(tmp_path / "all.csv"))
    scores = torch.rand(6, 6, generator=torch.Generator().manual_seed(1))
    scores.fill_diagonal_(5.0)
    from_dataset, from_labels = [], []
    for i in range(6):
        info = query.get_data_info(i)
        sample = DataSample().set_pred_score(scores[i]).set_gt_label(info["gt_label"])
        sample.set_metainfo(dict(sample_idx=i, ignore_gallery_idx=info["ignore_gallery_idx"]))
        from_dataset.append(sample)
        labelled = DataSample().set_pred_score(scores[i]).set_gt_label(int(labels[i] == "b"))
        labelled.set_metainfo(dict(sample_idx=i))
        from_labels.append(labelled)
    first = Evaluator([RetrievalRecall(topk=(1, 3)), RetrievalAveragePrecision()])
    first.process(from_dataset)
    second = Evaluator([RetrievalRecall(topk=(1, 3), gallery_labels=[int(x == "b") for x in labels],
                                        exclude_self=True),
                        RetrievalAveragePrecision(gallery_labels=[int(x == "b") for x in labels], exclude_self=True)])
    second.process(from_labels)
    assert first.evaluate(6) == pytest.approx(second.evaluate(6))


def test_bad_lists_are_explained(tmp_path):
    (tmp_path / "cols.csv").write_text("file,class\na.jpg,1\n")
    with pytest.raises(ValueError, match="must name the columns path and label.*missing path, label"):
        QueryGalleryDataset(ann_file=str(tmp_path / "cols.csv"))
    (tmp_path / "role.csv").write_text("path,label,split\na.jpg,1,probe\n")
    with pytest.raises(ValueError, match=r"role.csv, line 2: split 'probe' is not one of query, gallery, both"):
        QueryGalleryDataset(ann_file=str(tmp_path / "role.csv"))
    (tmp_path / "nolabel.csv").write_text("path,label,split\na.jpg,,query\nb.jpg,1,gallery\n")
    with pytest.raises(ValueError, match="query .*a.jpg.* has no label"):
        QueryGalleryDataset(ann_file=str(tmp_path / "nolabel.csv"))
    (tmp_path / "onlyq.csv").write_text("path,label,split\na.jpg,1,query\n")
    with pytest.raises(ValueError, match="no gallery images"):
        QueryGalleryDataset(ann_file=str(tmp_path / "onlyq.csv"))
    (tmp_path / "list.txt").write_text("a.jpg 1\n")
    with pytest.raises(ValueError, match=r"must be a \.csv or a \.json"):
        QueryGalleryDataset(ann_file=str(tmp_path / "list.txt"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        QueryGalleryDataset(ann_file=str(tmp_path / "broken.json"))
    with pytest.raises(FileNotFoundError, match="absent.csv.*docs/datasets.md"):
        QueryGalleryDataset(ann_file=str(tmp_path / "absent.csv"))
    with pytest.raises(ValueError, match="split must be 'query' or 'gallery'"):
        QueryGalleryDataset(ann_file=str(tmp_path / "cols.csv"), split="train")


def test_flowers12_protocol_two_ways_agree(shared_datasets_root):
    root = shared_datasets_root / "flowers12" / "test"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    custom_cfg = dict(type="CustomDataset", data_root=str(root))
    custom = CustomDataset(data_root=str(root))
    query = QueryGalleryDataset(data_root=str(root))
    assert len(query) == 240 and all(len(query.get_data_info(i)["gt_label"]) == 19 for i in range(240))
    scores = torch.rand(240, 240, generator=torch.Generator().manual_seed(0))
    scores.fill_diagonal_(9.0)
    by_indices = Evaluator([RetrievalRecall(topk=(1, 5)), RetrievalAveragePrecision()])
    by_labels = Evaluator([RetrievalRecall(topk=(1, 5), gallery_labels=custom_cfg, exclude_self=True),
                           RetrievalAveragePrecision(gallery_labels=custom_cfg, exclude_self=True)])
    for start in range(0, 240, 64):
        indexed, labelled = [], []
        for i in range(start, min(start + 64, 240)):
            info = query.get_data_info(i)
            indexed.append(DataSample(metainfo=dict(sample_idx=i, ignore_gallery_idx=info["ignore_gallery_idx"]))
                           .set_pred_score(scores[i]).set_gt_label(info["gt_label"]))
            labelled.append(DataSample(metainfo=dict(sample_idx=i)).set_pred_score(scores[i])
                            .set_gt_label(custom.get_data_info(i)["gt_label"]))
        by_indices.process(indexed)
        by_labels.process(labelled)
    first, second = by_indices.evaluate(240), by_labels.evaluate(240)
    assert first == pytest.approx(second)
    # random scores: Recall@1 near the chance of 19/239, far from the 100 that self-matches would give
    assert 0 < first["retrieval/Recall@1"] < 30
