"""Progress bars on stderr: animated on a terminal, plain lines (no carriage returns) when redirected."""
from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

#: Seconds between two progress lines when stderr is not a terminal.
LINE_INTERVAL_SECONDS = 10.0


class _LineStream:
    """A file for tqdm that turns its carriage-return frames into whole lines (for logs and CI output)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: Optional[int], desc: str, unit: str = "img", enabled: bool = True,
                 stream: Optional[TextIO] = None) -> Any:
    """A tqdm bar on ``stream`` (stderr); disabled when ``enabled`` is false.

    Whether to show progress at all is the caller's decision (the command line shows it on a terminal,
    or with ``--progress``); this only picks the form: animated on a terminal, a line every
    ``LINE_INTERVAL_SECONDS`` otherwise.
    """
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stderr
    if not enabled:
        return tqdm(total=total, disable=True)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return tqdm(total=total, desc=desc, unit=unit, file=_LineStream(stream), mininterval=LINE_INTERVAL_SECONDS, maxinterval=LINE_INTERVAL_SECONDS * 6,
                bar_format="{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}]")
