"""Fine-tuning: head-only learning-rate multiplier, a tiny real run that writes a usable model folder."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from imret.apis.finetune import FinetuneOptions, finetune, head_rate_layers, param_groups, split_classes
from imret.apis.evaluate import read_labelled_folder
from imret.cli.main import main



def _lrs_by_name(module, optimizer):
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    return {name: lr_of[id(p)] for name, p in module.named_parameters() if id(p) in lr_of}


def test_flowers12_config_multiplies_the_arcface_head_and_conv_head():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from imret.engine import load_config
    from imret.registry import MODELS

    cfg = load_config("arcface/efficientnet-lite0-arcface_flowers12")
    cfg.model.image_encoder[0].pretrained = False
    cfg.model.prototype = torch.zeros(1, 1280)
    with DefaultScope.overwrite_default_scope("imret"):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lrs = _lrs_by_name(model, wrapper.optimizer)
    conv_head = [n for n in lrs if "conv_head" in n]
    assert conv_head and all(lrs[n] == pytest.approx(0.09) for n in conv_head)
    head = [n for n in lrs if n.startswith("head.")]
    assert head and all(lrs[n] == pytest.approx(0.09) for n in head)
    # the same groups as `imret finetune`'s defaults: the head and conv_head fast, the rest (bn2 too) slow
    assert all(lrs[n] == pytest.approx(0.003) for n in lrs if not n.startswith("head.") and "conv_head" not in n)
    assert any("bn2" in n for n in lrs)


def test_param_groups_are_by_module():
    from torch import nn
    module = nn.Module()
    module.encoder = nn.Sequential(nn.Linear(2, 2))
    module.encoder.conv_head = nn.Linear(2, 2)
    module.head = nn.Linear(2, 3)
    groups = param_groups(module, 0.01, 10)
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in module.head.parameters()}
    assert groups[1]["lr"] == pytest.approx(0.1) and groups[0]["lr"] == 0.01
    assert len(groups[0]["params"]) == 4  # encoder Linear + conv_head, weights and biases


def _encoder_with_conv_head():
    from torch import nn
    module = nn.Module()
    module.image_encoder = nn.Sequential(nn.Linear(2, 2))
    module.image_encoder.conv_head = nn.Linear(2, 2, bias=False)
    module.image_encoder.bn2 = nn.BatchNorm1d(2)
    module.head = nn.Linear(2, 3)
    return module


def test_default_head_rate_layers_are_the_final_projection():
    module = _encoder_with_conv_head()
    assert head_rate_layers(module, None) == ["image_encoder.conv_head"]
    assert head_rate_layers(module, ()) == []
    groups = param_groups(module, 0.003, 30, head_rate_layers(module, None))
    fast = {id(p) for p in groups[1]["params"]}
    assert fast == {id(module.image_encoder.conv_head.weight), *(id(p) for p in module.head.parameters())}
    assert groups[1]["lr"] == pytest.approx(0.09) and groups[0]["lr"] == pytest.approx(0.003)
    slow = {id(p) for p in groups[0]["params"]}
    assert not slow & fast and len(slow) + len(fast) == len(list(module.parameters()))
    assert id(module.image_encoder.bn2.weight) in slow  # only the named module, not what follows it


def test_head_rate_layers_without_a_match():
    from torch import nn
    module = nn.Module()
    module.image_encoder = nn.Sequential(nn.Linear(2, 2))
    module.head = nn.Linear(2, 3)
    assert head_rate_layers(module, None) == []  # default: the head alone when there is no conv_head
    with pytest.raises(ValueError, match="no encoder module named 'conv_head'"):
        head_rate_layers(module, ("conv_head",))
    with pytest.raises(ValueError, match="head_lr_layers"):
        FinetuneOptions(head_lr_layers="conv_head").check()


def test_split_by_class(tmp_path, shared_datasets_root):
    for s in range(1, 11):
        (tmp_path / f"s{s}").mkdir()
        shutil.copyfile(shared_datasets_root / "att_faces" / f"s{s}" / "1.pgm", tmp_path / f"s{s}" / "1.pgm")
    folder = read_labelled_folder(tmp_path)
    train, val = split_classes(folder, 0.2, 0)
    assert len(val) == 2 and len(train) == 8 and not set(train) & set(val)
    assert (train, val) == split_classes(folder, 0.2, 0)
    with pytest.raises(ValueError, match="too few"):
        split_classes(read_labelled_folder(tmp_path), 0.9, 0)


@pytest.mark.slow
def test_tiny_finetune_writes_a_model_folder_that_indexes(tmp_path, shared_datasets_root, capsys):
    faces = tmp_path / "faces"
    for s in range(1, 6):
        (faces / f"s{s}").mkdir(parents=True)
        for n in (1, 2, 3):
            shutil.copyfile(shared_datasets_root / "att_faces" / f"s{s}" / f"{n}.pgm", faces / f"s{s}" / f"{n}.pgm")
    out = tmp_path / "model"
    assert main(["finetune", str(faces), "--out", str(out), "--epochs", "1", "--batch-size", "3",
                 "--train-size", "64", "--val-fraction", "0.4", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["val_classes"]) == 2 and len(report["train_classes"]) == 3 and report["train_images"] == 9
    assert report["before"]["queries"] == 6 and 0 <= report["after"]["mAP"] <= 100
    assert {p.name for p in out.iterdir()} == {"config.py", "weights.pth", "preprocessing.json", "provenance.json"}
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["finetune"]["train_classes"] == report["train_classes"]
    # the defaults are recorded: the new head and the encoder's conv_head at 30x the encoder's rate
    assert provenance["finetune"]["head_lr_mult"] == 30.0 and provenance["finetune"]["head_lr_layers"] is None
    assert [name.rsplit(".", 1)[-1] for name in provenance["finetune"]["head_rate_modules"]] == ["conv_head"]
    state = torch.load(out / "weights.pth", weights_only=True)
    assert not any(key.startswith("head.") for key in state)

    from imret.apis import get_model
    from imret.apis.provenance import file_sha256
    tuned = get_model(str(out / "config.py"), runtime="torch")
    base = get_model("efficientnet-lite0_gem", runtime="torch")
    assert tuned.provenance["weights_sha256"] == file_sha256(out / "weights.pth")
    image = [str(faces / "s1" / "1.pgm")]
    assert not np.allclose(tuned.encode_images(image).vectors, base.encode_images(image).vectors, atol=1e-4)

    index = tmp_path / "index"
    assert main(["index", str(faces), "--out", str(index), "--model", str(out), "--no-progress", "--json"]) == 0
    capsys.readouterr()
    assert main(["search", str(index), str(faces / "s2" / "1.pgm"), "--json", "--topk", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["matches"][0]["id"] == "s2/1.pgm"
    assert main(["finetune", str(faces), "--out", str(out)]) == 1  # refuses to overwrite
    assert "not empty" in capsys.readouterr().err


def test_head_lr_layers_option_text():
    from imret.cli.finetune import _layer_names
    assert _layer_names(None) is None
    assert _layer_names("none") == () and _layer_names("None") == ()
    assert _layer_names("conv_head, bn2") == ("conv_head", "bn2")


def test_unknown_head_lr_layer_is_one_line_and_writes_nothing(tmp_path, shared_datasets_root, capsys):
    faces = tmp_path / "faces"
    for s in (1, 2):
        (faces / f"s{s}").mkdir(parents=True)
        for n in (1, 2):
            shutil.copyfile(shared_datasets_root / "att_faces" / f"s{s}" / f"{n}.pgm", faces / f"s{s}" / f"{n}.pgm")
    out = tmp_path / "model"
    assert main(["finetune", str(faces), "--out", str(out), "--val-fraction", "0", "--head-lr-layers", "nosuch",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no encoder module named 'nosuch'" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
