"""CustomDataset: folders with class subfolders, flat folders, annotation files, errors, real data."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from imret.datasets import CustomDataset
from imret.registry import DATASETS


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path, format="PNG")


@pytest.fixture
def class_tree(tmp_path: Path) -> Path:
    for relative in ["dog/b.png", "dog/a.png", "cat/z.jpg", "cat/sub/y.JPG", "ant/1.bmp"]:
        _image(tmp_path / relative)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    return tmp_path


def _relative(dataset: CustomDataset, root: Path) -> list[str]:
    return [str(Path(dataset.get_data_info(i)["img_path"]).relative_to(root)) for i in range(len(dataset))]


def test_class_subfolders_give_sorted_classes_files_and_sample_idx(class_tree):
    dataset = CustomDataset(data_root=str(class_tree))
    assert dataset.metainfo["classes"] == ("ant", "cat", "dog", "empty")
    assert _relative(dataset, class_tree) == ["ant/1.bmp", "cat/sub/y.JPG", "cat/z.jpg", "dog/a.png", "dog/b.png"]
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [info["gt_label"] for info in infos] == [0, 1, 1, 2, 2]
    assert [info["sample_idx"] for info in infos] == list(range(5))


def test_pipeline_receives_sample_idx_and_label(class_tree):
    seen = []
    dataset = CustomDataset(data_root=str(class_tree), pipeline=[lambda results: seen.append(results) or results])
    assert dataset[3]["sample_idx"] == 3 and dataset[3]["gt_label"] == 2
    assert seen[-1]["img_path"].endswith("dog/a.png")


def test_flat_folder_without_labels_and_custom_extensions(class_tree):
    dataset = CustomDataset(data_root=str(class_tree), with_label=False)
    assert _relative(dataset, class_tree) == ["ant/1.bmp", "cat/sub/y.JPG", "cat/z.jpg", "dog/a.png", "dog/b.png"]
    assert "gt_label" not in dataset.get_data_info(0)
    only_png = CustomDataset(data_root=str(class_tree), with_label=False, extensions=("png",))
    assert _relative(only_png, class_tree) == ["dog/a.png", "dog/b.png"]


def test_data_prefix_is_joined_to_data_root(class_tree):
    dataset = DATASETS.build(dict(type="CustomDataset", data_root=str(class_tree), data_prefix="dog",
                                  with_label=False))
    assert _relative(dataset, class_tree) == ["dog/a.png", "dog/b.png"]


def test_annotation_file_with_and_without_labels(class_tree):
    (class_tree / "train.txt").write_text("dog/b.png 4\n\ncat/sub/y.JPG 0\n")
    dataset = CustomDataset(data_root=str(class_tree), ann_file="train.txt")
    assert _relative(dataset, class_tree) == ["dog/b.png", "cat/sub/y.JPG"]
    assert [dataset.get_data_info(i)["gt_label"] for i in range(2)] == [4, 0]
    (class_tree / "list.txt").write_text("dog/a.png\n")
    unlabelled = CustomDataset(data_root=str(class_tree), ann_file="list.txt", with_label=False)
    assert _relative(unlabelled, class_tree) == ["dog/a.png"] and "gt_label" not in unlabelled.get_data_info(0)


def test_lazy_init_defers_scanning(tmp_path):
    dataset = CustomDataset(data_root=str(tmp_path / "later"), lazy_init=True)
    _image(tmp_path / "later" / "x" / "1.png")
    assert len(dataset) == 1 and dataset.metainfo["classes"] == ("x",)


def test_user_classes_order_is_kept_and_unknown_folders_refused(class_tree):
    dataset = CustomDataset(data_root=str(class_tree), metainfo=dict(classes=("dog", "cat", "ant", "empty")))
    assert [dataset.get_data_info(i)["gt_label"] for i in range(5)] == [2, 1, 1, 0, 0]
    with pytest.raises(ValueError, match=r"\['empty'\].*not in metainfo\['classes'\]"):
        CustomDataset(data_root=str(class_tree), metainfo=dict(classes=("ant", "cat", "dog")))


def test_errors_name_the_problem(tmp_path, class_tree):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        CustomDataset(data_root=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"no images found in .*empty.* with extensions \.jpg, \.jpeg, \.png"):
        CustomDataset(data_root=str(class_tree / "empty"), with_label=False)
    with pytest.raises(ValueError, match="no images found .*extensions .gif"):
        CustomDataset(data_root=str(class_tree), extensions=(".gif",))
    with pytest.raises(ValueError, match="no class subfolders.*with_label=False"):
        CustomDataset(data_root=str(class_tree / "dog"))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        CustomDataset(data_root=str(class_tree), ann_file="missing.txt")
    (class_tree / "bad.txt").write_text("dog/a.png 1\ndog/b.png cat\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: label 'cat' is not an integer"):
        CustomDataset(data_root=str(class_tree), ann_file="bad.txt")
    (class_tree / "nolabel.txt").write_text("dog/a.png\n")
    with pytest.raises(ValueError, match="line 1.*has no label.*with_label=False"):
        CustomDataset(data_root=str(class_tree), ann_file="nolabel.txt")
    with pytest.raises(ValueError, match="needs data_root"):
        CustomDataset()


def test_real_flowers12_test_split(shared_datasets_root):
    root = shared_datasets_root / "flowers12" / "test"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    dataset = CustomDataset(data_root=str(root))
    assert len(dataset) == 240
    assert len(dataset.metainfo["classes"]) == 12
    counts = Counter(dataset.get_data_info(i)["gt_label"] for i in range(len(dataset)))
    assert sorted(counts) == list(range(12)) and set(counts.values()) == {20}
    again = CustomDataset(data_root=str(root))
    assert [again.get_data_info(i)["img_path"] for i in range(240)] == \
        [dataset.get_data_info(i)["img_path"] for i in range(240)]


def test_pipeline_dicts_resolve_in_imret_registry_without_a_runner(class_tree):
    from imret.registry import TRANSFORMS

    @TRANSFORMS.register_module(name="_TestTagTransform", force=True)
    class _Tag:
        def __call__(self, results):
            return dict(results, tagged=True)

    dataset = CustomDataset(data_root=str(class_tree), pipeline=[dict(type="_TestTagTransform")])
    assert dataset[0]["tagged"] is True and dataset[0]["sample_idx"] == 0
