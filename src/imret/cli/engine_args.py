"""Arguments shared by ``imret train`` and ``imret test``, declared without importing mmengine or torch."""
from __future__ import annotations

import argparse
from typing import Any, Optional, Sequence

#: Job launchers (the same names as ``imret.engine.runner.LAUNCHERS``, which checks them again).
LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


class ConfigOptionsAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` parsed by mmengine's ``DictAction``, imported only when the option is used."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Optional[Sequence[Any]], option_string: Optional[str] = None) -> None:
        from mmengine.config import DictAction

        DictAction(self.option_strings, self.dest, nargs=self.nargs)(parser, namespace, values, option_string)
