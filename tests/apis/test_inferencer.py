"""ImageRetrievalInferencer: prototype kinds agree, edited photos find their original, cache is keyed by provenance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader

from imret.apis import ImageRetrievalInferencer, get_model

from apis_photos import copy_photos


def _edited_queries(photos: list[Path], folder: Path) -> list[str]:
    folder.mkdir()
    queries = []
    for photo in photos:
        image = Image.open(photo).convert("RGB")
        w, h = image.size
        edited = ImageOps.mirror(image.crop((w // 10, h // 10, w - w // 8, h - h // 8)))
        target = folder / f"{photo.stem}_edit.jpg"
        edited.save(target, quality=85)
        queries.append(str(target))
    return queries


def test_edited_photos_find_their_original(default_model, photo_folder, tmp_path):
    photos = sorted(photo_folder.iterdir())
    queries = _edited_queries(photos, tmp_path / "queries")
    inferencer = ImageRetrievalInferencer(default_model, prototype=str(photo_folder))
    results = inferencer(queries, topk=3)
    assert len(results) == len(queries)
    for photo, matches in zip(photos, results):
        assert [set(m) for m in matches] == [{"match_score", "sample_idx", "sample"}] * 3
        assert Path(matches[0]["sample"]["img_path"]) == photo
        scores = [m["match_score"] for m in matches]
        assert scores == sorted(scores, reverse=True)
    # a single input (not a list) gives a one-element list
    single = inferencer(queries[0], topk=1)
    assert len(single) == 1 and single[0][0]["sample_idx"] == results[0][0]["sample_idx"]


def test_prototype_kinds_give_the_same_vectors(default_model, photo_folder):
    from imret.datasets import CustomDataset

    paths = [str(p) for p in sorted(photo_folder.iterdir())]
    from_folder = ImageRetrievalInferencer(default_model, str(photo_folder))
    from_list = ImageRetrievalInferencer(default_model, paths)
    config = dict(type="CustomDataset", data_root=str(photo_folder), with_label=False)
    from_config = ImageRetrievalInferencer(default_model, config)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope("imret"):
        dataset = CustomDataset(data_root=str(photo_folder), with_label=False,
                                pipeline=list(default_model.preprocessing.pipeline))
    from_dataset = ImageRetrievalInferencer(default_model, dataset)
    from mmengine.dataset import pseudo_collate
    loader = DataLoader(dataset, batch_size=4, collate_fn=pseudo_collate)
    from_loader = ImageRetrievalInferencer(default_model, loader)
    reference = from_folder.prototype_vecs
    for other in (from_list, from_config, from_dataset, from_loader):
        assert [Path(s["img_path"]) for s in other.prototype_samples] == [Path(p) for p in paths]
        torch.testing.assert_close(other.prototype_vecs, reference, rtol=1e-4, atol=1e-4)


def test_array_queries_are_bgr(default_model, photo_folder):
    inferencer = ImageRetrievalInferencer(default_model, str(photo_folder))
    path = str(sorted(photo_folder.iterdir())[0])
    bgr = np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1].copy()
    by_path, by_array = inferencer([path, bgr], topk=2)
    assert [m["sample_idx"] for m in by_path] == [m["sample_idx"] for m in by_array]
    assert by_array[0]["match_score"] == pytest.approx(by_path[0]["match_score"], abs=1e-4)
    assert by_path[0]["match_score"] == pytest.approx(1.0, abs=1e-4)


def test_show_dir_writes_one_grid_per_query(default_model, photo_folder, tmp_path):
    inferencer = ImageRetrievalInferencer(default_model, str(photo_folder))
    queries = [str(p) for p in sorted(photo_folder.iterdir())[:2]]
    inferencer(queries, topk=2, show_dir=tmp_path / "grids")
    grids = sorted((tmp_path / "grids").glob("*.png"))
    assert len(grids) == 2
    assert Image.open(grids[0]).size == (8 + 3 * (192 + 8), 8 + 192 + 34 + 8)


def test_unreadable_query_names_the_file(default_model, photo_folder, tmp_path):
    inferencer = ImageRetrievalInferencer(default_model, str(photo_folder))
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="bad.jpg"):
        inferencer([str(bad)])


def test_bad_prototype_type_lists_the_accepted_kinds(default_model):
    with pytest.raises(TypeError, match="a folder, a list of image paths"):
        ImageRetrievalInferencer(default_model, 42)


def test_prototype_cache_is_reused_only_for_the_same_model_and_files(default_model, photo_folder, tmp_path,
                                                                     capsys, monkeypatch):
    cache = tmp_path / "cache.safetensors"
    first = ImageRetrievalInferencer(default_model, str(photo_folder), prototype_cache=cache)
    assert cache.is_file()
    capsys.readouterr()

    import imret.apis.retrieval_model as model_module

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    with monkeypatch.context() as patch:
        patch.setattr(model_module, "encode_images", no_encoding)
        second = ImageRetrievalInferencer(default_model, str(photo_folder), prototype_cache=cache)
    assert capsys.readouterr().err == ""
    torch.testing.assert_close(second.prototype_vecs, first.prototype_vecs)

    # the folder changed: one more photo -> rebuilt with a message, the new photo is found
    copy_photos(photo_folder, ("camera.png",))
    third = ImageRetrievalInferencer(default_model, str(photo_folder), prototype_cache=cache)
    assert "changed" in capsys.readouterr().err
    assert len(third.prototype_samples) == len(first.prototype_samples) + 1
    assert Path(third([str(photo_folder / "camera.png")])[0][0]["sample"]["img_path"]).name == "camera.png"

    # another model: never reuse its vectors
    other = get_model("efficientnet-lite0_avg")
    fourth = ImageRetrievalInferencer(other, str(photo_folder), prototype_cache=cache)
    err = capsys.readouterr().err
    assert "another model" in err and "rebuilding" in err
    assert not torch.allclose(fourth.prototype_vecs, third.prototype_vecs, atol=1e-3)


def test_concatenated_loader_prototype_rows_follow_dataset_positions(default_model, photo_folder):
    """A ConcatDataset repeats sample_idx (each part counts from 0): rows must still follow positions."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    from torch.utils.data import ConcatDataset

    from imret.datasets import CustomDataset

    paths = [str(p) for p in sorted(photo_folder.iterdir())]
    with DefaultScope.overwrite_default_scope("imret"):
        part = CustomDataset(data_root=str(photo_folder), with_label=False,
                             pipeline=list(default_model.preprocessing.pipeline))
    both = ConcatDataset([part, part])
    loader = DataLoader(both, batch_size=3, collate_fn=pseudo_collate)
    inferencer = ImageRetrievalInferencer(default_model, loader)
    single = ImageRetrievalInferencer(default_model, paths).prototype_vecs
    assert [Path(s["img_path"]) for s in inferencer.prototype_samples] == [Path(p) for p in paths * 2]
    assert [s["sample_idx"] for s in inferencer.prototype_samples] == list(range(2 * len(paths)))
    torch.testing.assert_close(inferencer.prototype_vecs, torch.cat([single, single]), rtol=1e-4, atol=1e-4)
