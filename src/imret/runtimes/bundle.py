"""Export bundles: a folder with the ONNX encoder, its preprocessing and provenance, as plain files.

``manifest.json`` lists every file with its SHA-256; reading a bundle checks them all, so a missing,
truncated or edited file is refused before anything runs.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from imret.utils.hashing import file_sha256

from .errors import BundleError

BUNDLE_FORMAT = "imret-bundle/1"
MANIFEST = "manifest.json"
ENCODER_FILE, PREPROCESSING_FILE, PROVENANCE_FILE = "encoder.onnx", "preprocessing.json", "provenance.json"
BUNDLE_FILES = (ENCODER_FILE, PREPROCESSING_FILE, PROVENANCE_FILE)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    root: Path
    name: str
    dim: int
    preprocessing: dict
    provenance: dict
    #: SHA-256 of the encoder file, as listed in the manifest and checked when the bundle was read.
    encoder_sha256: str = ""

    @property
    def encoder_path(self) -> Path:
        return self.root / ENCODER_FILE


def is_bundle(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is a folder with a bundle manifest (its files are checked by ``read_bundle``)."""
    return (Path(path) / MANIFEST).is_file()


def write_bundle(out: Union[str, os.PathLike], encoder: Union[str, os.PathLike], name: str, dim: int,
                 preprocessing: dict, provenance: dict) -> Path:
    """Write a bundle folder at ``out`` (which must not exist or be empty); all or nothing."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"--out {out} already exists and is not an empty folder; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; a bundle is meant to be shared
        shutil.copyfile(encoder, staging / ENCODER_FILE)
        for file_name, payload in ((PREPROCESSING_FILE, preprocessing), (PROVENANCE_FILE, provenance)):
            (staging / file_name).write_text(json.dumps(payload, indent=1, sort_keys=True))
        manifest = {"format": BUNDLE_FORMAT, "name": name, "dim": int(dim),
                    "files": {file_name: file_sha256(staging / file_name) for file_name in BUNDLE_FILES}}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _json_file(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"bundle file {path} is unreadable ({type(error).__name__}); re-export the bundle "
                          "with imret export") from None
    if not isinstance(value, dict):
        raise BundleError(f"bundle file {path} does not hold a JSON object; re-export the bundle with imret export")
    return value


def read_bundle(root: Union[str, os.PathLike]) -> Bundle:
    """The bundle at ``root`` after checking its manifest and every file's SHA-256."""
    root = Path(root)
    if not (root / MANIFEST).is_file():
        raise BundleError(f"{root} is not an imret export bundle (no {MANIFEST}); create one with imret export")
    manifest = _json_file(root / MANIFEST, "manifest")
    files = manifest.get("files")
    if manifest.get("format") != BUNDLE_FORMAT or not isinstance(files, dict):
        raise BundleError(f"{root / MANIFEST} is not a {BUNDLE_FORMAT} manifest; re-export the bundle with "
                          "a matching imret version")
    for file_name in BUNDLE_FILES:
        path = root / file_name
        if not path.is_file():
            raise BundleError(f"bundle {root} is missing {file_name}; re-export it with imret export")
        if files.get(file_name) != file_sha256(path):
            raise BundleError(f"bundle file {path} is corrupt (its SHA-256 differs from the manifest); "
                              "re-export the bundle with imret export")
    try:
        dim = int(manifest["dim"])
    except (KeyError, TypeError, ValueError):
        raise BundleError(f"{root / MANIFEST} has no valid 'dim'; re-export the bundle with imret export") from None
    return Bundle(root=root, name=str(manifest.get("name") or root.name), dim=dim,
                  preprocessing=_json_file(root / PREPROCESSING_FILE, "preprocessing"),
                  provenance=_json_file(root / PROVENANCE_FILE, "provenance"), encoder_sha256=files[ENCODER_FILE])
