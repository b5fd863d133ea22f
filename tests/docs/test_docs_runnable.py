"""Every code block marked runnable in docs/*.md and README.md runs as written.

A block is runnable when its fence's info string is ``bash runnable`` or ``python runnable``, optionally
with ``timeout=SECONDS`` (default 120). The blocks of one file run in order in one fresh temporary
directory (a later block may use an earlier block's files), with ``imret`` and ``python`` of this
environment on PATH, imret's source first on PYTHONPATH and ``IMRET_DATA_ROOT`` set to the shared real
datasets. Each block must exit with code 0 within its time limit. See docs/contributing.md.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
OPENING = re.compile(r"^(`{3,})(bash|python) runnable(?: timeout=(\d+))?\s*$")
DEFAULT_TIMEOUT = 120


@dataclass
class Block:
    document: Path
    line: int
    language: str
    timeout: int
    code: str


def runnable_blocks(document: Path) -> list[Block]:
    """The runnable blocks of one Markdown file, in order."""
    blocks: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = OPENING.match(lines[index])
        index += 1
        if not opening:
            continue
        fence, start, body = opening.group(1), index, []
        while index < len(lines) and lines[index].rstrip() != fence:
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise AssertionError(f"{document.name}:{start}: runnable block is never closed")
        index += 1
        blocks.append(Block(document, start, opening.group(2), int(opening.group(3) or DEFAULT_TIMEOUT),
                            "\n".join(body) + "\n"))
    return blocks


def test_the_parser_finds_marked_blocks_only(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nshown only\n```\n\n```python runnable timeout=7\nprint(1)\n```\n"
                    "````bash runnable\necho '```'\n````\n")
    blocks = runnable_blocks(page)
    assert [(b.language, b.timeout, b.code, b.line) for b in blocks] == [
        ("python", 7, "print(1)\n", 5), ("bash", DEFAULT_TIMEOUT, "echo '```'\n", 8)]


def _environment(data_root: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["IMRET_DATA_ROOT"] = str(data_root)
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


DOCUMENTS_WITH_BLOCKS = [document for document in DOCUMENTS if runnable_blocks(document)]


def test_documents_have_runnable_blocks():
    assert {path.name for path in DOCUMENTS_WITH_BLOCKS} >= {"training.md", "datasets.md"}


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS_WITH_BLOCKS, ids=lambda path: path.name)
def test_runnable_blocks_run(document, tmp_path, shared_datasets_root):
    env = _environment(shared_datasets_root)
    for block in runnable_blocks(document):
        command = ["bash", "-euo", "pipefail", "-c", block.code] if block.language == "bash" \
            else [sys.executable, "-c", block.code]
        where = f"{document.relative_to(ROOT)}:{block.line}"
        try:
            result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=block.timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{where}: the block did not finish within {block.timeout} s")
        assert result.returncode == 0, (f"{where}: exit code {result.returncode}\n--- stdout\n"
                                        f"{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
