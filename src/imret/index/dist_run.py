"""The process side of distributed indexing: torch.distributed ranks, and ``--workers`` on one machine.

Rank 0 scans the folder and the index and broadcasts the files to encode; every rank encodes its
chunks into shard files (see :mod:`.distributed`). With a back end that takes several writers at
once (a Milvus server) every rank then upserts its own shards (:class:`DirectWriter`). Rank 0
finally commits once, through ``sync_folder`` reading the shards (adding what is not yet written,
dropping deleted files), and the shards are removed. Process groups use gloo unless ``IMRET_DIST_BACKEND=nccl``
(each rank then encodes on GPU ``LOCAL_RANK``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping, Optional, Sequence

from .distributed import (DEFAULT_SHARD_SIZE, EncodeFn, Shard, ShardLookup, ShardStore, chunk_key, chunks_of_rank,
                          encode_share, files_to_encode, make_chunks)
from .scan import FileEntry, scan_folder

ENV_BACKEND = "IMRET_DIST_BACKEND"
STAGING_SUFFIX = ".imret-staging"
GROUP_TIMEOUT = timedelta(hours=6)  # ranks wait at barriers while the others encode


@dataclass(frozen=True)
class DistEnv:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int


@dataclass
class DistReport:
    """Totals over all ranks: images encoded now, images taken from shards of an earlier run."""

    world_size: int
    encoded: int
    reused: int
    shards_written: int
    shards_reused: int


def dist_env(environ: Optional[Mapping[str, str]] = None) -> Optional[DistEnv]:
    """The torchrun environment, or None outside torchrun or with a single process."""
    environ = os.environ if environ is None else environ
    try:
        world = int(environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        return DistEnv(int(environ["RANK"]), world, int(environ.get("LOCAL_RANK", "0")))
    except (KeyError, ValueError):
        return None


def default_staging_dir(index_uri: str) -> str:
    """Where shards of ``index_uri`` are staged: beside a local index directory or Milvus Lite file.

    The staging directory sits beside (not inside) the index, so a new index directory stays empty
    until its first commit. For a ``milvus://`` server it is a folder in the working directory.
    """
    text = str(index_uri)
    if text.startswith("milvus-lite:"):
        text = text[len("milvus-lite:"):].partition("#")[0]
    elif text.startswith("milvus://"):
        from .milvus.uri import parse_milvus_uri

        return os.path.abspath(f"{parse_milvus_uri(text).collection}{STAGING_SUFFIX}")
    return os.path.abspath(text.rstrip("/\\")) + STAGING_SUFFIX


def torch_device(env: DistEnv) -> str:
    """The device this rank encodes on: ``cuda:LOCAL_RANK`` with nccl, else ``cpu``."""
    return f"cuda:{env.local_rank}" if os.environ.get(ENV_BACKEND, "gloo") == "nccl" else "cpu"


class DirectWriter:
    """Every rank writes its own shards into an index that accepts concurrent writers (Milvus server)."""

    def __init__(self, uri: str, provenance: Mapping[str, Any], index_type: Optional[str],
                 metric: str = "cosine_similarity") -> None:
        self.uri, self.provenance, self.index_type, self.metric = uri, dict(provenance), index_type, metric

    def prepare(self, dim: Optional[int], rebuild: bool) -> None:
        """Rank 0, before any rank writes: create the index when missing (or replace it for a rebuild)."""
        from .factory import create_index, open_index

        if dim is None:
            return
        if not rebuild:
            try:
                open_index(self.uri).close()
                return
            except FileNotFoundError:
                pass
        create_index(self.uri, dim, self.metric, self.provenance, overwrite=rebuild,
                     index_type=self.index_type).close()

    def write(self, shards: Sequence[Shard]) -> None:
        """Upsert the shards' vectors with the metadata ``sync_folder`` records (the sha256 computed here)."""
        from ..utils.hashing import file_sha256
        from .factory import open_index
        from .sync import _metadata as file_metadata

        with open_index(self.uri, writable=True) as index:
            for shard in shards:
                if not shard.ids:
                    continue
                entries = [FileEntry(*row) for row in zip(shard.ids, shard.paths, shard.sizes, shard.mtimes)]
                index.upsert(shard.ids, shard.vectors, [file_metadata(e, file_sha256(e.path)) for e in entries])
                index.commit(checkpoint=True)
            index.commit()


def direct_writer(uri: str, provenance: Mapping[str, Any], index_type: Optional[str]) -> Optional[DirectWriter]:
    """A :class:`DirectWriter` when the back end of ``uri`` takes concurrent writers, else None."""
    from .factory import resolve_backend

    if getattr(resolve_backend(uri), "concurrent_writers", False):
        return DirectWriter(uri, provenance, index_type)
    return None


def _plan(folder: str, stored: Callable[[], Mapping[str, tuple]]) -> list[tuple]:
    entries, _ = scan_folder(folder)
    return [(e.id, e.path, e.size, e.mtime) for e in files_to_encode(entries, stored())]


def distributed_index(env: DistEnv, folder: str, encode: EncodeFn, provenance: Mapping[str, Any],
                      stored: Callable[[], Mapping[str, tuple]], commit: Callable[[EncodeFn], Any],
                      staging: str, shard_size: int = DEFAULT_SHARD_SIZE, writer: Optional[DirectWriter] = None,
                      rebuild: bool = False) -> tuple[Any, Optional[DistReport]]:
    """Run this rank's part; returns (``commit``'s result, totals) on rank 0 and (None, None) elsewhere.

    ``stored()`` (rank 0 only) maps stored ids to (size, mtime); ``commit(encode)`` (rank 0 only)
    brings the index in line with the folder using the given shard-backed ``encode``. With a
    ``writer`` every rank writes its own shards first.
    """
    import torch.distributed as dist

    backend = os.environ.get(ENV_BACKEND, "gloo")
    if backend == "nccl":
        import torch

        torch.cuda.set_device(env.local_rank)
    dist.init_process_group(backend=backend, timeout=GROUP_TIMEOUT)
    try:
        payload: list[Any] = [None]
        if env.rank == 0:
            try:
                payload = [("ok", _plan(folder, stored))]
            except Exception as error:
                payload = [("error", error)]
        dist.broadcast_object_list(payload, src=0)
        status, value = payload[0]
        if status == "error":
            if env.rank == 0:
                raise value
            return None, None
        chunks = make_chunks([FileEntry(*item) for item in value], shard_size)
        store = ShardStore(staging)
        mine: list[Shard] = []
        share = encode_share(store, chunks, chunks_of_rank(chunks, env.rank, env.world_size), encode, provenance,
                             on_shard=mine.append if writer is not None else None)
        shares: list[Any] = [None] * env.world_size
        dist.all_gather_object(shares, asdict(share))
        if writer is not None:
            if env.rank == 0:
                writer.prepare(next((s["dim"] for s in shares if s["dim"]), None), rebuild)
            dist.barrier()
            writer.write(mine)
            dist.barrier()
            if env.rank != 0:
                for shard in mine:
                    Path(store.path(shard.key)).unlink(missing_ok=True)
        if env.rank != 0:
            return None, None
        shards = [store.load(chunk_key(chunk, provenance)) for chunk in chunks]
        lookup = ShardLookup([s for s in shards if s is not None], encode)
        # with direct writers the index already holds the new vectors: no second rebuild over them
        result = commit(lookup, rebuild=False) if writer is not None else commit(lookup)
        shutil.rmtree(staging, ignore_errors=True)
        totals = DistReport(env.world_size, sum(s["encoded"] for s in shares) + lookup.encoded,
                            sum(s["reused"] for s in shares), sum(s["shards_written"] for s in shares),
                            sum(s["shards_reused"] for s in shares))
        return result, totals
    finally:
        dist.destroy_process_group()


def launch_workers(cli_args: Sequence[str], workers: int) -> int:
    """Run ``imret CLI_ARGS`` as ``workers`` processes of one torchrun job on this machine; its exit code."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}",
               "-m", "imret.cli.main", *cli_args]
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(threads)))
    return subprocess.run(command, env=env).returncode
