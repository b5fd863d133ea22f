"""Test-time augmentation: flip and multi-scale views averaged, recorded in provenance, applied by search."""
import json
import shutil

import numpy as np
import pytest

from imret.apis import get_model
from imret.apis.tta import parse_tta, scaled_pipeline, with_tta
from imret.cli.main import main


@pytest.fixture(scope="module")
def base():
    return get_model("efficientnet-lite0_gem", runtime="torch")


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_flip_is_the_mean_of_the_image_and_its_mirror(base):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)  # 256 -> centre crop 224 is symmetric
    tta = with_tta(base, flip=True)
    got = tta.encode_images([image]).vectors
    plain = base.encode_images([image, np.ascontiguousarray(image[:, ::-1])]).vectors
    np.testing.assert_allclose(got[0], unit(plain).mean(axis=0), atol=1e-5)
    assert tta.provenance["tta"] == {"flip": True, "scales": None}
    assert {k: v for k, v in tta.provenance.items() if k != "tta"} == base.provenance


def test_scales_average_views_made_by_scaled_pipelines(base, shared_datasets_root):
    path = str(shared_datasets_root / "ukbench" / "ukbench00004.jpg")
    tta = with_tta(base, scales=[224, 288])
    pipeline = scaled_pipeline(base.preprocessing.pipeline, 288)
    assert [s for s in pipeline if s["type"] == "ResizeEdge"][0]["scale"] == round(256 * 288 / 224)
    big = get_model({"model": dict(base.provenance["encoder"], pretrained=None), "pipeline": pipeline},
                    runtime="torch")
    big.module.load_state_dict(base.module.state_dict())
    want = (unit(base.encode_images([path]).vectors) + unit(big.encode_images([path]).vectors)) / 2
    np.testing.assert_allclose(tta.encode_images([path]).vectors, want, atol=1e-5)
    assert tta.provenance["tta"] == {"flip": False, "scales": [224, 288]}


def test_options_and_errors(base):
    assert with_tta(base) is base
    assert parse_tta("flip,224,320") == {"flip": True, "scales": [224, 320]}
    with pytest.raises(ValueError, match="unknown part 'mirror'"):
        parse_tta("mirror")
    with pytest.raises(ValueError, match="already uses"):
        with_tta(with_tta(base, flip=True), flip=True)


def test_index_records_tta_and_search_applies_it(tmp_path, shared_datasets_root, capsys):
    gallery = tmp_path / "g"
    gallery.mkdir()
    for n in range(8):
        shutil.copyfile(shared_datasets_root / "ukbench" / f"ukbench{n:05d}.jpg", gallery / f"{n}.jpg")
    index = tmp_path / "ix"
    assert main(["index", str(gallery), "--out", str(index), "--tta", "flip", "--no-progress", "--json"]) == 0
    capsys.readouterr()
    from imret.index.gallery import GalleryIndex
    assert GalleryIndex.open(str(index)).provenance["tta"] == {"flip": True, "scales": None}
    assert main(["search", str(index), str(gallery / "5.jpg"), "--json", "--topk", "2"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["matches"][0]
    assert top["id"] == "5.jpg" and top["score"] == pytest.approx(1.0, abs=1e-5)  # same TTA on the query
    # an update without --tta keeps the index's TTA
    shutil.copyfile(shared_datasets_root / "ukbench" / "ukbench00008.jpg", gallery / "8.jpg")
    assert main(["index", str(gallery), "--out", str(index), "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["added"] == 1


@pytest.mark.slow
def test_flip_with_onnxruntime_matches_torch(base, shared_datasets_root):
    path = str(shared_datasets_root / "ukbench" / "ukbench00000.jpg")
    ort = get_model("efficientnet-lite0_gem", runtime="onnxruntime")
    np.testing.assert_allclose(with_tta(ort, flip=True).encode_images([path]).vectors,
                               with_tta(base, flip=True).encode_images([path]).vectors, atol=1e-4)
