"""kill -9 during saves leaves a readable index equal to one complete saved state.

A writer process saves one state after another; the test polls the index directory for a file a
save writes (the temporary version directory, the renamed version not yet named by CURRENT, the
pointer's temporary file, a new CURRENT) and kills the writer the moment it sees it.
"""
import json
import os
import signal
import time

import numpy as np
import pytest

from imret.index import GalleryIndex

ROWS, DIM = 3000, 32
POLL_SECONDS = 0.0005
TIMEOUT_SECONDS = 60


def expected_state(s):
    rng = np.random.default_rng(s)
    n = ROWS + 37 * (s % 5)
    return [f"s{s}-{i}" for i in range(n)], rng.standard_normal((n, DIM)).astype(np.float32)


def writer(path, first, report_fd):
    """The child: save states first, first+1, ... forever, reporting each completed save."""
    index = GalleryIndex.open(path)
    for s in range(first, first + 100000):
        ids, vectors = expected_state(s)
        index.remove(index.ids)
        index.add(ids, vectors, [{"label": str(s)}] * len(ids))
        index.save()
        os.write(report_fd, f"{s}\n".encode())


def start_writer(path, first):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        os.close(read_fd)
        try:
            writer(path, first, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def current_number(path):
    with open(os.path.join(path, "CURRENT")) as fh:
        return int(json.load(fh)["version"][1:].split("-")[0])


def version_numbers(path):
    return [int(n[1:].split("-")[0]) for n in os.listdir(path) if n.startswith("v")]


# the moments to kill at, each recognised by what the save has written so far
KILL_POINTS = {
    "temporary version directory": lambda path, start: any(n.startswith(".tmp-") for n in os.listdir(path)),
    "version renamed, CURRENT not yet switched": lambda path, start: max(version_numbers(path)) > current_number(path),
    "CURRENT's temporary file": lambda path, start: any(n.startswith(".CURRENT.") and n.endswith(".tmp")
                                                        for n in os.listdir(path)),
    "CURRENT switched, old versions being removed": lambda path, start: current_number(path) != start,
}


def kill_when(path, pid, predicate):
    """Poll until ``predicate`` holds, then SIGKILL ``pid``; fails if the writer exits or time runs out."""
    start = current_number(path)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if predicate(path, start):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
        except (FileNotFoundError, ValueError, json.JSONDecodeError):
            pass  # a file vanished between listing and reading: poll again
        if os.waitpid(pid, os.WNOHANG)[0]:
            pytest.fail("the writer exited before the kill point")
        time.sleep(POLL_SECONDS)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the kill point was not seen in time")


def read_reports(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return [int(line) for line in b"".join(chunks).split()]


def check_is_complete_state(path):
    index = GalleryIndex.open(path, mmap=False)
    s = int(index.ids[0].split("-")[0][1:])
    ids, vectors = expected_state(s)
    assert index.ids == ids
    np.testing.assert_array_equal(np.asarray(index.vectors()), vectors)
    assert index.get_metadata([ids[-1]])[0]["label"] == str(s)
    assert len(index.search(vectors[:2], 3).ids[0]) == 3
    return s


def tree(path):
    return sorted((root, tuple(sorted(files))) for root, _, files in os.walk(path))


def test_kill_during_save_leaves_old_or_new(tmp_path, rounds=2):
    path = str(tmp_path / "idx")
    ids, vectors = expected_state(0)
    index = GalleryIndex.create(path, DIM, metric="dot_product", index_type=None)
    index.add(ids, vectors, [{"label": "0"}] * len(ids))
    index.save()
    last = 0
    for _ in range(rounds):
        for point, predicate in KILL_POINTS.items():
            pid, fd = start_writer(path, last + 1)
            kill_when(path, pid, predicate)
            done = read_reports(fd)
            before = tree(path)
            state = check_is_complete_state(path)
            assert tree(path) == before, "a read-only open changed the directory"
            # the index holds the last completed save or the one in flight, never anything older
            newest_done = done[-1] if done else last
            assert state in (newest_done, newest_done + 1), (point, state, done)
            GalleryIndex.open(path, writable=True)  # repairs: no temporary leftovers, current + previous only
            assert not [n for n in os.listdir(path) if n.startswith(".")], point
            assert len([n for n in os.listdir(path) if n.startswith("v")]) <= 2, point
            assert check_is_complete_state(path) == state, point
            last = state
    assert last >= 2, "no save completed between kills"
