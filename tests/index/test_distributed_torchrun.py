"""Distributed indexing in real processes: a torchrun job (gloo, CPU) with one rank killed, then resumed.

The resumed 2-process index must equal a 1-process index of the same folder, and reuse every shard
the killed run had written instead of encoding those images again.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imret.cli.main import main
from imret.index import open_index
from imret.index.dist_run import default_staging_dir
from imret.index.distributed import ShardStore, chunk_key, chunks_of_rank, make_chunks
from imret.index.scan import scan_folder

pytestmark = pytest.mark.slow
IMRET = Path(sys.executable).parent / "imret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_with_rank(parent: int, rank: int) -> int:
    """The pid of the torchrun worker of ``parent`` whose environment says RANK=rank."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != parent:
                continue
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if f"RANK={rank}".encode() in environ:
            return int(entry)
    raise AssertionError(f"no worker with RANK={rank} under pid {parent}")


def test_killed_rank_resumes_without_reencoding_and_equals_one_process(tmp_path, shared_datasets_root):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for i in range(12):
        shutil.copy2(shared_datasets_root / "ukbench" / f"ukbench{i:05d}.jpg", gallery)
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["index", str(gallery), "--out", str(one), "--no-progress"]) == 0
    reference = open_index(str(one))

    # the plan rank 0 makes: 12 chunks of one image, odd chunks for rank 1
    chunks = make_chunks(scan_folder(str(gallery))[0], 1)
    keys = [chunk_key(chunk, reference.provenance) for chunk in chunks]
    store = ShardStore(default_staging_dir(str(two)))
    rank1_keys = [keys[n] for n in chunks_of_rank(chunks, 1, 2)]

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-addr=127.0.0.1",
               f"--master-port={free_port()}", "-m", "imret.cli.main", "index", str(gallery), "--out", str(two),
               "--shard-size", "1", "--no-progress", "--json"]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not any(os.path.exists(store.path(key)) for key in rank1_keys):
            assert run.poll() is None, f"the job ended before rank 1 wrote a shard: {run.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, "rank 1 wrote no shard in time"
            time.sleep(0.05)
        os.kill(child_with_rank(run.pid, 1), signal.SIGKILL)
        run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode != 0
    assert not os.path.exists(two / "CURRENT"), "nothing is committed before every rank has finished"
    written = [key for key in keys if store.load(key) is not None]
    assert any(key in written for key in rank1_keys) and len(written) < len(keys), "killed mid-way"

    # resume as `imret index --workers 2` (torchrun on this machine)
    resumed = subprocess.run([str(IMRET), "index", str(gallery), "--out", str(two), "--workers", "2",
                              "--shard-size", "1", "--no-progress", "--json"],
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["workers"] == 2 and summary["count"] == 12 and summary["added"] == 12
    assert (summary["reused"], summary["encoded"]) == (len(written), len(keys) - len(written))
    assert not os.path.exists(store.directory), "the staging shards are removed after the commit"

    index = open_index(str(two))
    ids = sorted(reference.iter_ids())
    assert sorted(index.iter_ids()) == ids
    np.testing.assert_allclose(index.get_vectors(ids), reference.get_vectors(ids), atol=1e-5)
    assert index.get_metadata(ids) == reference.get_metadata(ids)
    assert index.provenance == reference.provenance
