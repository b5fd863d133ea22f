"""Which checkpoint to resume from, and whether a checkpoint file can be read at all."""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Optional

LAST_CHECKPOINT_MARKER = "last_checkpoint"
_CHECKPOINT_GLOBS = ("epoch_*.pth", "iter_*.pth")


class CheckpointFileError(ValueError):
    """A checkpoint to load is missing or unreadable; the message names it and says what to do."""


def _saved_checkpoints(work_dir: Path) -> list[Path]:
    found = [path for pattern in _CHECKPOINT_GLOBS for path in work_dir.glob(pattern) if path.is_file()]
    return sorted(found, key=lambda path: (path.stat().st_mtime, path.name))


def latest_checkpoint(work_dir: str | os.PathLike) -> Optional[str]:
    """The checkpoint ``--resume`` (without a value) continues from, or None when the work dir has none.

    The one named by ``last_checkpoint`` when it exists; else the newest ``epoch_*.pth`` /
    ``iter_*.pth`` (a run killed between saving and updating the marker). A marker that names a missing
    file with no checkpoint left raises :class:`CheckpointFileError`.
    """
    folder = Path(work_dir)
    marker = folder / LAST_CHECKPOINT_MARKER
    named = ""
    if marker.is_file():
        named = marker.read_text(encoding="utf-8", errors="replace").strip()
        if named and Path(named).is_file():
            return named
    saved = _saved_checkpoints(folder)
    if saved:
        return str(saved[-1])
    if named:
        raise CheckpointFileError(f"cannot resume: {marker} names {named}, which does not exist, and {folder} holds "
                                  "no other checkpoint; pass --resume CHECKPOINT, or train without --resume to "
                                  "start afresh")
    return None


def check_checkpoint_readable(path: str | os.PathLike, what: str = "checkpoint") -> str:
    """``path`` when it is an existing, complete checkpoint file; else :class:`CheckpointFileError`.

    torch's zip checkpoints are checked structurally (central directory and every member's CRC),
    which finds truncated and corrupted files without unpickling anything; any other file is loaded
    once with weights-only loading.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointFileError(f"{what} {path} does not exist; pass the path of a .pth checkpoint written by "
                                  "`imret train` (see its work directory)")
    broken = (f"{what} {path} is not a complete checkpoint ({{}}); it may be truncated by an interrupted "
              "save or copy: pass another checkpoint (e.g. an older epoch_*.pth)")
    if zipfile.is_zipfile(file):
        try:
            with zipfile.ZipFile(file) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise CheckpointFileError(broken.format(error)) from None
        if bad is not None:
            raise CheckpointFileError(broken.format(f"member {bad} fails its checksum"))
        return str(path)
    from .checkpoint_safety import load_checkpoint_file, refusal_reason

    try:
        load_checkpoint_file(str(file))
    except pickle.UnpicklingError as error:
        if "GLOBAL" not in str(error):
            raise CheckpointFileError(broken.format(refusal_reason(error))) from None
        raise CheckpointFileError(f"{what} {path} was refused by weights-only loading ({refusal_reason(error)}); "
                                  "imret loads only checkpoints made of tensors and the few data types its own "
                                  "training writes") from None
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        first = " ".join(str(error).split())[:200] or type(error).__name__
        raise CheckpointFileError(broken.format(first)) from None
    return str(path)
