"""sync_folder: incremental encoding, deletions, provenance, unreadable images, resume."""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from imret.index import GalleryIndex, ProvenanceMismatchError, sync_folder

PROVENANCE = {"encoder": "pixels-4x4", "weights_sha256": "0" * 64, "preprocessing": "none"}


def write_png(path, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(path)


def make_folder(root, n):
    for i in range(n):
        write_png(os.path.join(root, f"class{i % 7}", f"{i:04d}.png"), i)


class CountingEncoder:
    """Pixels as a 48-d vector; records every path it is asked to encode."""

    def __init__(self):
        self.calls = []

    def __call__(self, paths):
        self.calls.extend(paths)
        vectors, failed = [], {}
        for path in paths:
            try:
                with Image.open(path) as img:
                    vectors.append(np.asarray(img.convert("RGB"), dtype=np.float32).reshape(-1) - 127.5)
            except Exception as exc:  # unreadable image: reported, not raised
                failed[path] = f"{type(exc).__name__}: {exc}"
        return np.stack(vectors) if vectors else np.zeros((0, 48), np.float32), failed


def search_all(index_path, queries):
    result = GalleryIndex.open(index_path).search(queries, 5, backend="exact")
    return result.ids, result.scores


def test_resync_encodes_only_changed_images_and_matches_full_rebuild(tmp_path):
    folder, index_path = str(tmp_path / "gallery"), str(tmp_path / "index")
    make_folder(folder, 1000)
    encoder = CountingEncoder()
    report = sync_folder(index_path, folder, encoder, PROVENANCE, progress=False, batch_size=64)
    assert (report.added, report.encoded, len(encoder.calls), report.failed) == (1000, 1000, 1000, {})

    changed = [os.path.join(folder, f"class{i % 7}", f"{i:04d}.png") for i in range(0, 1000, 100)]
    for n, path in enumerate(changed):
        write_png(path, 5000 + n)
    touched = os.path.join(folder, "class1", "0001.png")  # same bytes, new mtime: not re-encoded
    os.utime(touched, (time.time() + 100, time.time() + 100))
    removed = os.path.join(folder, "class2", "0002.png")
    os.remove(removed)
    encoder.calls.clear()
    report = sync_folder(index_path, folder, encoder, PROVENANCE, progress=False)
    assert sorted(encoder.calls) == sorted(changed)
    assert (report.updated, report.added, report.removed, report.unchanged, report.encoded) == (10, 0, 1, 989, 10)
    index = GalleryIndex.open(index_path)
    assert len(index) == 999 and "class2/0002.png" not in index
    assert index.get_metadata(["class1/0001.png"])[0]["mtime"] == os.stat(touched).st_mtime

    again = CountingEncoder()
    report = sync_folder(index_path, folder, again, PROVENANCE, progress=False)
    assert again.calls == [] and report.unchanged == 999

    full = str(tmp_path / "full")
    sync_folder(full, folder, CountingEncoder(), PROVENANCE, progress=False)
    queries, _ = CountingEncoder()(changed + [os.path.join(folder, "class3", "0003.png")])
    assert search_all(index_path, queries)[0] == search_all(full, queries)[0]
    np.testing.assert_allclose(search_all(index_path, queries)[1], search_all(full, queries)[1], atol=1e-6)


def test_ids_metadata_and_unreadable_images(tmp_path):
    folder, index_path = str(tmp_path / "g"), str(tmp_path / "i")
    make_folder(folder, 12)
    bad = os.path.join(folder, "class0", "broken.png")
    with open(bad, "wb") as fh:
        fh.write(b"not a png")
    with open(os.path.join(folder, "notes.txt"), "w") as fh:
        fh.write("ignored: not an image extension")
    report = sync_folder(index_path, folder, CountingEncoder(), PROVENANCE, progress=False, batch_size=5)
    assert report.added == 12 and list(report.failed) == [bad] and "Error" in report.failed[bad]
    index = GalleryIndex.open(index_path)
    assert index.ids == sorted(index.ids) and "class3/0003.png" in index
    meta = index.get_metadata(["class3/0003.png"])[0]
    path = os.path.join(folder, "class3", "0003.png")
    assert meta["label"] == "class3" and meta["size"] == os.path.getsize(path) and meta["path"] == os.path.abspath(path)
    import hashlib
    assert meta["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert index.provenance == PROVENANCE


def test_provenance_mismatch_is_refused_unless_rebuild(tmp_path):
    folder, index_path = str(tmp_path / "g"), str(tmp_path / "i")
    make_folder(folder, 6)
    sync_folder(index_path, folder, CountingEncoder(), PROVENANCE, progress=False)
    other = dict(PROVENANCE, weights_sha256="f" * 64, preprocessing="resize")
    with pytest.raises(ProvenanceMismatchError, match=r"preprocessing, weights_sha256 differ.*rebuild=True"):
        sync_folder(index_path, folder, CountingEncoder(), other, progress=False)
    encoder = CountingEncoder()
    report = sync_folder(index_path, folder, encoder, other, rebuild=True, progress=False)
    assert report.added == 6 and len(encoder.calls) == 6
    assert GalleryIndex.open(index_path).provenance == other


def test_an_imret_upgrade_alone_keeps_the_index_but_a_new_encoding_version_does_not(tmp_path):
    folder, index_path = str(tmp_path / "g"), str(tmp_path / "i")
    make_folder(folder, 5)
    old = dict(PROVENANCE, imret_version="0.0.1", encoding_version=1)
    sync_folder(index_path, folder, CountingEncoder(), old, progress=False)
    encoder = CountingEncoder()
    report = sync_folder(index_path, folder, encoder, dict(old, imret_version="9.9.9"), progress=False)
    assert report.unchanged == 5 and encoder.calls == []
    with pytest.raises(ProvenanceMismatchError, match=r"\(encoding_version differ"):
        sync_folder(index_path, folder, CountingEncoder(), dict(old, encoding_version=2), progress=False)


RESUME_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from test_sync import CountingEncoder, PROVENANCE
    from imret.index import sync_folder

    class Slow(CountingEncoder):
        def __call__(self, paths):
            time.sleep(0.05)
            return super().__call__(paths)

    sync_folder(sys.argv[1], sys.argv[2], Slow(), PROVENANCE, progress=False, batch_size=10, checkpoint_every=20)
""")


def test_interrupted_sync_resumes_where_it_stopped(tmp_path):
    folder, index_path = str(tmp_path / "g"), str(tmp_path / "i")
    make_folder(folder, 300)
    script = tmp_path / "run_sync.py"
    script.write_text(RESUME_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), index_path, folder, os.path.dirname(__file__)])
    deadline = time.time() + 120
    saved = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            saved = len(GalleryIndex.open(index_path))
        except (FileNotFoundError, ValueError):
            saved = 0
        if saved >= 60:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    saved = len(GalleryIndex.open(index_path))
    assert 0 < saved < 300, "the run finished before it could be interrupted"
    encoder = CountingEncoder()
    report = sync_folder(index_path, folder, encoder, PROVENANCE, progress=False)
    assert len(encoder.calls) == 300 - saved and report.unchanged == saved
    assert len(GalleryIndex.open(index_path)) == 300


def test_one_bad_file_never_fails_the_run(tmp_path):
    """An encoder that raises on one file, or returns a non-finite or zero vector, fails only that file."""
    folder, index_path = str(tmp_path / "g"), str(tmp_path / "i")
    make_folder(folder, 10)
    raising = os.path.join(folder, "class1", "0001.png")
    nan = os.path.join(folder, "class2", "0002.png")
    zero = os.path.join(folder, "class3", "0003.png")

    def encode(paths):
        if raising in paths:
            raise OSError(f"cannot decode {raising}")
        vectors, failed = CountingEncoder()(paths)
        for position, path in enumerate(paths):
            if path == nan:
                vectors[position, 0] = np.nan
            if path == zero:
                vectors[position] = 0.0
        return vectors, failed

    report = sync_folder(index_path, folder, encode, PROVENANCE, progress=False, batch_size=4)
    assert sorted(report.failed) == sorted([raising, nan, zero])
    assert "cannot decode" in report.failed[raising] and "non-finite or zero" in report.failed[nan]
    assert (report.added, report.encoded, report.count) == (7, 7, 7)
    index = GalleryIndex.open(index_path)
    assert len(index) == 7 and "class1/0001.png" not in index and np.isfinite(np.asarray(index.vectors())).all()
