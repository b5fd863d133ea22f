"""kill -9 during saves leaves a readable index equal to one complete saved state."""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from imret.index import GalleryIndex

ROWS, DIM = 20000, 64  # ~5 MB of vectors: a save takes long enough to be interrupted part-way

WRITER = textwrap.dedent(f"""
    import sys
    import numpy as np
    from imret.index import GalleryIndex

    def state(s):
        rng = np.random.default_rng(s)
        n = {ROWS} + 37 * (s % 5)
        return [f"s{{s}}-{{i}}" for i in range(n)], rng.standard_normal((n, {DIM})).astype(np.float32)

    path, first = sys.argv[1], int(sys.argv[2])
    index = GalleryIndex.open(path)
    print("ready", flush=True)
    for s in range(first, first + 1000):
        ids, vectors = state(s)
        index.remove(index.ids)
        index.add(ids, vectors, [{{"label": str(s)}}] * len(ids))
        index.save()
        print(s, flush=True)
""")


def expected_state(s):
    rng = np.random.default_rng(s)
    n = ROWS + 37 * (s % 5)
    return [f"s{s}-{i}" for i in range(n)], rng.standard_normal((n, DIM)).astype(np.float32)


def check_is_complete_state(path):
    index = GalleryIndex.open(path, mmap=False)
    s = int(index.ids[0].split("-")[0][1:])
    ids, vectors = expected_state(s)
    assert index.ids == ids
    np.testing.assert_array_equal(np.asarray(index.vectors()), vectors)
    assert index.get_metadata([ids[-1]])[0]["label"] == str(s)
    assert len(index.search(vectors[:2], 3).ids[0]) == 3
    return s


def test_kill_during_save_leaves_old_or_new(tmp_path):
    path = str(tmp_path / "idx")
    ids, vectors = expected_state(0)
    index = GalleryIndex.create(path, DIM, metric="dot_product", index_type=None)
    index.add(ids, vectors, [{"label": "0"}] * len(ids))
    index.save()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(0)
    last = 0
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, str(script), path, str(last + 1)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.2, 1.0))  # a few saves, then a random moment
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        done = [int(line) for line in out.split()]
        state = check_is_complete_state(path)
        # the index holds the last completed save or the one in flight, never anything older
        newest_done = done[-1] if done else last
        assert state in (newest_done, newest_done + 1), (state, done)
        last = state
    assert last >= 2, "the writer never completed saves: the kills did not land during saving"
    GalleryIndex.open(path).save()  # the next save cleans temporary files and directories of killed saves
    assert not [n for n in os.listdir(path) if n.startswith(".")]
    assert len([n for n in os.listdir(path) if n.startswith("v")]) <= 2  # current + previous only
