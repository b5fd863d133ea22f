"""Matching a large gallery never builds an (N, M, C) tensor: peak memory stays near gallery + scores."""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import resource, torch
    from mmengine.model import BaseDataPreprocessor
    from imret.models import ImageToImageRetriever
    torch.manual_seed(0)
    prototypes = torch.randn(200_000, 512)
    queries = torch.randn(64, 512)
    queries[:3] = prototypes[[11, 150_000, 199_999]] * 2.0
    for topk in (-1, 10):
        model = ImageToImageRetriever(image_encoder=torch.nn.Identity(), prototype=prototypes, topk=topk,
                                      data_preprocessor=BaseDataPreprocessor())
        samples = model.predict(queries)
        assert [s.pred_label[0].item() for s in samples[:3]] == [11, 150_000, 199_999], topk
        assert samples[0].pred_score.shape == (200_000,)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""")


def test_large_gallery_matching_stays_within_a_few_gigabytes():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    peak_bytes = int(result.stdout.strip().splitlines()[-1])
    gallery_bytes = 200_000 * 512 * 4
    naive_nmc_bytes = 64 * gallery_bytes
    assert peak_bytes < 3 * 2**30, f"peak RSS {peak_bytes / 2**30:.2f} GiB"
    assert peak_bytes < naive_nmc_bytes / 8
