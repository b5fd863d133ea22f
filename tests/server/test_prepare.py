"""The server's query path: an upload prepared off the encoder thread, then encoded in a batch, gives the
vectors and rankings of the reference decode (``imret search``'s path, and full decoding for large JPEGs)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from server_helpers import HELD_OUT

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def searcher(served, server_model):
    from imret.apis.searcher import IndexSearcher

    return IndexSearcher(str(served[2]), model=server_model)


def _ranking(searcher, vectors: np.ndarray, k: int = 5) -> list[list[str]]:
    found = searcher.index.search(np.asarray(vectors, dtype=np.float32), k)
    return [list(ids) for ids in found.ids]


def test_prepared_uploads_encode_like_imret_search(searcher, ukbench_dir):
    from imret.server.adapter import Encoder

    encoder = Encoder(searcher, max_pixels=40_000_000)
    paths = [ukbench_dir / f"ukbench{number:05d}.jpg" for number in HELD_OUT]
    prepared = [encoder.prepare(path.read_bytes(), path.name) for path in paths]
    together = encoder.encode(prepared)             # one forward pass, as the pool batches them
    reference = searcher.encode_queries([str(path) for path in paths])
    np.testing.assert_allclose(together, reference, rtol=1e-4, atol=1e-5)
    assert _ranking(searcher, together) == _ranking(searcher, reference)
    alone = np.concatenate([encoder.encode([item]) for item in prepared])
    np.testing.assert_allclose(alone, together, rtol=1e-4, atol=1e-5)


def test_large_jpegs_draft_decoded_rank_as_fully_decoded(searcher, ukbench_dir):
    """A 1920x1440 JPEG is decoded at half scale for the 256-pixel resize; the top 5 stay those of full decoding."""
    from PIL import Image

    from imret.io import decode_bgr
    from imret.server.adapter import Encoder

    encoder = Encoder(searcher, max_pixels=40_000_000)
    model = searcher.model
    for number in HELD_OUT:
        with Image.open(ukbench_dir / f"ukbench{number:05d}.jpg") as small:
            large = small.convert("RGB").resize((1920, 1440), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        large.save(buffer, format="JPEG", quality=95)
        data = buffer.getvalue()
        drafted = encoder.encode([encoder.prepare(data, "large.jpg")])
        full = model.encode_arrays([model.transform(decode_bgr(data, draft=False))])
        cosine = float((drafted @ full.T).item() / np.linalg.norm(drafted) / np.linalg.norm(full))
        assert cosine > 0.999
        assert _ranking(searcher, drafted) == _ranking(searcher, full)


def test_bad_uploads_name_the_users_file(searcher, ukbench_dir):
    from imret.server.adapter import Encoder, ImageTooLargeError, QueryImageError

    jpeg = (ukbench_dir / "ukbench00000.jpg").read_bytes()  # 640x480 = 307,200 pixels
    small_limit = Encoder(searcher, max_pixels=100_000)
    with pytest.raises(ImageTooLargeError, match=r"^photo\.jpg: .*at most 100,000 pixels"):
        small_limit.prepare(jpeg, "photo.jpg")
    encoder = Encoder(searcher, max_pixels=40_000_000)
    for data in (b"", b"not an image at all", jpeg[:200]):
        with pytest.raises(QueryImageError, match=r"^notes\.jpg: not a readable image \(") as caught:
            encoder.prepare(data, "notes.jpg")
        assert not isinstance(caught.value, ImageTooLargeError)
        assert "<image bytes>" not in str(caught.value) and "/" not in str(caught.value)


def test_clients_see_a_config_models_file_name_never_its_absolute_path(tmp_path):
    from types import SimpleNamespace

    from imret.server.adapter import Encoder, public_model_name

    config = tmp_path / "work" / "flowers_arcface.py"
    served = Encoder(SimpleNamespace(model=SimpleNamespace(name=str(config), transform=None)))
    assert served.name == "flowers_arcface.py" and str(tmp_path) not in served.name
    assert public_model_name(str(tmp_path / "finetuned") + "/") == "finetuned"
    assert public_model_name("efficientnet-lite0") == "efficientnet-lite0"
