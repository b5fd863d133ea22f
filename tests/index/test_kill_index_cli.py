"""Real `imret index` processes killed during their first saves; the next run repairs and completes.

The test polls the index directory for what a save writes and kills the process the moment it
appears (never after a guessed sleep).
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import skimage

from imret.index import IndexFormatError, open_index
from imret.index.verify import verify_index

IMRET = Path(sys.executable).parent / "imret"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
POLL_SECONDS = 0.0005
TIMEOUT_SECONDS = 300


def start(*args):
    return subprocess.Popen([str(IMRET), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(proc, seen):
    """SIGKILL ``proc`` as soon as ``seen()`` is true; the test fails if the process ends first."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if seen():
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                return
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"imret index ended (exit {proc.returncode}) before the kill point: {err[-500:]}")
        time.sleep(POLL_SECONDS)
    proc.kill()
    pytest.fail("the kill point was not reached in time")


def entries(path):
    return os.listdir(path) if os.path.isdir(path) else []


def readonly_state(path):
    """'none', 'interrupted' or the number of images; a read-only open never changes the directory."""
    before = sorted(entries(path))
    try:
        state = str(len(open_index(str(path))))
    except FileNotFoundError:
        state = "none"
    except IndexFormatError as error:
        assert "interrupted save" in str(error), error
        state = "interrupted"
    assert sorted(entries(path)) == before
    return state


@pytest.mark.slow
def test_killed_first_saves_are_repaired_by_the_next_run(tmp_path):
    gallery, index = tmp_path / "gallery", tmp_path / "index"
    gallery.mkdir()
    for name in PHOTOS:
        shutil.copyfile(Path(skimage.__file__).parent / "data" / name, gallery / name)
    states = []

    # 1. killed at the start of the first save: its temporary version directory appeared
    proc = start("index", gallery, "--out", index, "--no-progress")
    kill_when(proc, lambda: any(n.startswith(".tmp-") for n in entries(index)))
    states.append(readonly_state(index))
    # 2. the next run repairs what is left; killed as soon as its first version directory is in place
    proc = start("index", gallery, "--out", index, "--no-progress")
    kill_when(proc, lambda: any(n.startswith("v") for n in entries(index)))
    states.append(readonly_state(index))
    assert set(states) <= {"none", "interrupted", "0", "4"}, states
    # 3. --rebuild over whatever is left completes
    done = subprocess.run([str(IMRET), "index", str(gallery), "--out", str(index), "--rebuild", "--no-progress"],
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stderr
    assert len(open_index(str(index))) == 4
    assert verify_index(str(index)).problems == []
    assert not [n for n in entries(index) if n.startswith(".")]
