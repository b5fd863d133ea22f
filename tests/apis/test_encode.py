"""Encoding images: failures are skipped and reported, batching does not change vectors, arrays are BGR."""
from __future__ import annotations

import numpy as np
from PIL import Image

from imret.apis import encode_images, make_encoder


def test_unreadable_files_are_skipped_and_listed(default_model, photo_folder, tmp_path):
    good = sorted(str(p) for p in photo_folder.iterdir())[:3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a jpeg")
    missing = str(tmp_path / "missing.png")
    inputs = [good[0], str(broken), good[1], missing, good[2]]
    result = encode_images(default_model, inputs, batch_size=2, progress=False)
    assert result.ok == [0, 2, 4]
    assert set(result.failed) == {str(broken), missing}
    assert all(reason for reason in result.failed.values())
    alone = encode_images(default_model, good, batch_size=3, progress=False)
    np.testing.assert_allclose(result.vectors, alone.vectors, rtol=1e-4, atol=1e-5)


def test_batch_size_does_not_change_vectors(default_model, photo_folder):
    paths = sorted(str(p) for p in photo_folder.iterdir())
    one = encode_images(default_model, paths, batch_size=1, progress=False).vectors
    many = encode_images(default_model, paths, batch_size=4, progress=False).vectors
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-4)
    # different photos give clearly different vectors
    normed = one / np.linalg.norm(one, axis=1, keepdims=True)
    similarity = normed @ normed.T
    assert np.all(similarity[~np.eye(len(paths), dtype=bool)] < 0.95)


def test_arrays_are_bgr_like_the_file_loader(default_model, photo_folder):
    path = str(sorted(photo_folder.iterdir())[0])  # astronaut: strongly coloured
    rgb = np.asarray(Image.open(path).convert("RGB"))
    from_path = encode_images(default_model, [path], progress=False).vectors
    from_bgr = encode_images(default_model, [rgb[:, :, ::-1].copy()], progress=False).vectors
    from_rgb = encode_images(default_model, [rgb.copy()], progress=False).vectors
    np.testing.assert_allclose(from_bgr, from_path, rtol=1e-4, atol=1e-4)
    assert not np.allclose(from_rgb, from_path, atol=1e-2)


def test_make_encoder_matches_sync_folder_contract(default_model, photo_folder, tmp_path):
    encode = make_encoder(default_model, batch_size=2, progress=False)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    paths = sorted(str(p) for p in photo_folder.iterdir())[:2] + [str(text)]
    vectors, failed = encode(paths)
    assert vectors.dtype == np.float32 and vectors.shape == (2, 1280)
    assert list(failed) == [str(text)]
