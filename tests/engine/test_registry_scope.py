"""The imret scope outside a runner: after `import imret`, with register_all_modules, and a user's scope kept."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
               PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_build_dataloader_outside_a_runner_after_import_imret(shared_datasets_root):
    root = shared_datasets_root / "flowers12" / "test" / "bluebell"
    result = _python(f"""
        import imret
        from mmengine.runner import Runner
        from mmengine.registry import DefaultScope
        loader = Runner.build_dataloader(dict(
            batch_size=4, sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='CustomDataset', data_root={str(root)!r}, with_label=False,
                         pipeline=[dict(type='LoadImageFromFile'), dict(type='PackClsInputs')])))
        batch = next(iter(loader))
        print(DefaultScope.get_current_instance().scope_name, type(loader.dataset).__module__,
              len(loader.dataset), len(batch['inputs']), type(batch['data_samples'][0]).__name__)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["imret", "imret.datasets.custom", "20", "4", "DataSample"]


def test_without_imret_mmengine_alone_does_not_know_the_name():
    # the reference: what failed before (so the test above proves the import made the difference)
    result = _python("""
        from mmengine.registry import DATASETS
        try:
            DATASETS.build(dict(type='CustomDataset', data_root='.'))
        except KeyError as error:
            print('KeyError', 'CustomDataset' in str(error))
    """)
    assert result.stdout.split() == ["KeyError", "True"], result.stderr[-2000:]


def test_imported_after_mmengine_too():
    result = _python("""
        from mmengine.registry import DefaultScope
        assert DefaultScope.get_current_instance() is None
        import imret
        print(DefaultScope.get_current_instance().scope_name)
    """)
    assert result.stdout.split() == ["imret"], result.stderr[-2000:]


def test_a_scope_the_user_set_is_kept():
    result = _python("""
        from mmengine.registry import DefaultScope, init_default_scope
        init_default_scope('mmengine')
        import imret
        from imret.utils import register_all_modules
        first = DefaultScope.get_current_instance().scope_name
        is_imret = register_all_modules(init_default_scope=True)
        print(first, DefaultScope.get_current_instance().scope_name, is_imret)
    """)
    assert result.stdout.split() == ["mmengine", "mmengine", "False"], result.stderr[-2000:]


def test_register_all_modules_sets_the_scope_when_none_is_set():
    result = _python("""
        import sys
        from mmengine.registry import DefaultScope
        import imret.utils
        DefaultScope._instance_dict.clear()  # as if nothing had set a scope yet
        from imret.utils import register_all_modules
        print(register_all_modules(), DefaultScope.get_current_instance().scope_name,
              'imret.models' in sys.modules, 'imret.visualization' in sys.modules)
    """)
    assert result.stdout.split() == ["True", "imret", "True", "True"], result.stderr[-2000:]


def test_import_imret_stays_light():
    result = _python("""
        import sys
        import imret
        print(sorted(name for name in ('mmengine', 'torch', 'numpy') if name in sys.modules))
    """)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr[-2000:]
