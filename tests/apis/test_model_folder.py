"""A fine-tuned model folder (config.py + weights.pth, as ``imret finetune`` writes) is a model source."""
from __future__ import annotations

import numpy as np
import torch

from imret.apis import get_model
from imret.apis.finetune import write_model_dir
from imret.apis.model_provenance import model_provenance
from imret.apis.provenance import file_sha256

from tiny_model import TINY



def test_get_model_and_provenance_accept_a_model_folder(tmp_path):
    torch.manual_seed(3)
    source = get_model(TINY, pretrained=False, runtime="torch", device="cpu")
    folder = tmp_path / "tuned"
    write_model_dir(folder, source, source.module, source.provenance)
    crops = [np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8) for seed in range(3)]

    loaded = get_model(folder, runtime="torch", device="cpu")
    np.testing.assert_allclose(loaded.encode_arrays(crops), source.encode_arrays(crops), rtol=1e-5, atol=1e-5)
    assert loaded.provenance["weights_sha256"] == file_sha256(folder / "weights.pth")
    assert loaded.provenance == get_model(folder / "config.py", runtime="torch", device="cpu").provenance
    assert model_provenance(folder) == loaded.provenance
