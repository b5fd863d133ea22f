"""kill -9 at every step of a sync's saves, the first save of a new index included.

The writer is a forked process running ``sync_folder``; it counts the file-system steps of its saves
(directory creation, file writes flushed, renames, pointer replacement, removals) and sends itself
SIGKILL just before or just after step number K, for every K until a run completes. After each kill
a read-only open must see no index, the old or the new index, or report an interrupted save without
changing anything; the next sync must repair the directory and complete.
"""
import os
import shutil
import signal

import numpy as np
import pytest
from PIL import Image

from imret.index import GalleryIndex, IndexFormatError, sync_folder
from imret.index.verify import verify_index

PROVENANCE = {"model": "pixels", "encoder": "pixels-4x4", "weights_sha256": "0" * 64}
STEPS = (("os", "makedirs"), ("os", "rename"), ("os", "replace"), ("os", "remove"),
         ("os", "fchmod"), ("shutil", "rmtree"), ("shutil", "copyfile"))


def write_png(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(path)


def pixels(paths):
    vectors = [np.asarray(Image.open(p).convert("RGB"), np.float32).reshape(-1) - 127.5 for p in paths]
    return np.stack(vectors), {}


def run_killed_at(index_path, folder, kill_at):
    """Fork a sync that SIGKILLs itself at step ``kill_at``; True if it was killed, False if it completed."""
    pid = os.fork()
    if pid == 0:
        try:
            import shutil as shutil_module
            count = [0]

            def counted(original):
                def step(*args, **kwargs):
                    count[0] += 1
                    if count[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    result = original(*args, **kwargs)
                    count[0] += 1
                    if count[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return result
                return step

            for module_name, name in STEPS:
                module = os if module_name == "os" else shutil_module
                setattr(module, name, counted(getattr(module, name)))
            sync_folder(index_path, folder, pixels, PROVENANCE, progress=False, batch_size=64)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0
    return False


def tree(path):
    return sorted((root, tuple(sorted(files)), tuple(sorted(dirs))) for root, dirs, files in os.walk(path))


def stored_state(index_path):
    """The ids -> vectors a read-only open sees (None: no index yet); asserts the open changed nothing."""
    before = tree(index_path) if os.path.exists(index_path) else None
    try:
        index = GalleryIndex.open(index_path, mmap=False)
        state = dict(zip(index.ids, np.asarray(index.vectors())))
    except FileNotFoundError:
        state = None
    except IndexFormatError as error:
        assert "interrupted save" in str(error) or "which is missing" in str(error), error
        state = "interrupted"
    assert (tree(index_path) if os.path.exists(index_path) else None) == before
    return state


def same(state, expected):
    return isinstance(state, dict) and state.keys() == expected.keys() and all(
        np.allclose(state[k], expected[k], atol=1e-6) for k in expected)


def expected_vectors(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            vector = pixels([path])[0][0]
            out[os.path.relpath(path, folder).replace(os.sep, "/")] = vector / np.linalg.norm(vector)
    return out


@pytest.mark.parametrize("scenario", ["first save of a new index", "sync of an existing index"])
def test_every_kill_point_leaves_old_new_or_repairable(tmp_path, scenario):
    folder, index_path = str(tmp_path / "gallery"), str(tmp_path / "index")
    for i in range(5):
        write_png(os.path.join(folder, f"c{i % 2}", f"{i}.png"), i)
    old: dict = {}
    if scenario == "sync of an existing index":
        sync_folder(index_path, folder, pixels, PROVENANCE, progress=False)
        old = expected_vectors(folder)
        write_png(os.path.join(folder, "c0", "0.png"), 100)
        write_png(os.path.join(folder, "c1", "new.png"), 101)
        os.remove(os.path.join(folder, "c1", "1.png"))
    new = expected_vectors(folder)
    pristine = str(tmp_path / "pristine")
    if os.path.exists(index_path):
        shutil.copytree(index_path, pristine)
    seen = set()
    kill_at = 1
    while run_killed_at(index_path, folder, kill_at):
        state = stored_state(index_path)
        if state is None or state == "interrupted":
            seen.add(str(state))
        else:
            assert same(state, new) or same(state, old) or (not state and not old), (scenario, kill_at)
            seen.add("new" if same(state, new) else "old")
        report = sync_folder(index_path, folder, pixels, PROVENANCE, progress=False)  # the next run repairs
        assert report.count == len(new) and not report.failed, (kill_at, report)
        assert same(stored_state(index_path), new), kill_at
        assert not [n for n in os.listdir(index_path) if n.startswith(".")], kill_at
        assert len([n for n in os.listdir(index_path) if n.startswith("v")]) <= 2, kill_at
        assert verify_index(index_path).problems == [], kill_at
        shutil.rmtree(index_path)
        if os.path.exists(pristine):
            shutil.copytree(pristine, index_path)
        kill_at += 1
    assert kill_at > 10, f"only {kill_at - 1} kill points: the saves were not instrumented"
    assert {"old", "new"} <= seen or scenario.startswith("first")
    if scenario.startswith("first"):
        # killed before the first save / between its rename and CURRENT / after: all three happen
        assert {"None", "interrupted", "new"} <= seen, seen
