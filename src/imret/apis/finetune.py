"""Fine-tuning a model on a labelled folder with an ArcFace head, written as a model folder.

Recipe (CPU-sized defaults): the zoo encoder plus a new ``ArcFaceClsHead`` over the training
classes; SGD (momentum 0.9, Nesterov, weight decay 5e-4) with a low encoder learning rate, multiplied
by ``head_lr_mult`` for the new head and the encoder modules named by ``head_lr_layers`` (by default
the final 1x1 projection ``conv_head``, where the encoder has one); cosine decay per
step; random resized crops and horizontal flips at ``train_size`` pixels. A share of the classes is
held out for validation (open-set: classes never trained on) and measured leave-one-out before and
after. The result is a model folder (see :mod:`imret.apis.model_dir`).
"""
from __future__ import annotations

import copy
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .evaluate import LabelledFolder, Quality, leave_one_out, read_labelled_folder
from .finetune_options import DEFAULT_HEAD_RATE_LAYERS, FinetuneOptions
from .model_dir import CONFIG_FILE, PREPROCESSING_FILE, PROVENANCE_FILE, WEIGHTS_FILE


@dataclass
class FinetuneReport:
    """What fine-tuning did and measured (``before``/``after`` on the held-out classes, if any)."""

    out: str
    train_images: int
    train_classes: list[str]
    val_classes: list[str]
    before: Optional[dict] = None
    after: Optional[dict] = None
    losses: list[float] = field(default_factory=list)


def split_classes(folder: LabelledFolder, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train class ids, validation class ids): a seeded share of the classes, at least 2 when any."""
    count = len(folder.classes)
    wanted = int(round(count * val_fraction))
    if val_fraction > 0:
        wanted = max(wanted, 2)
    if count - wanted < 2:
        raise ValueError(f"{count} classes are too few to hold out {wanted} for validation and train on the rest "
                         "(at least 2); use --val-fraction 0 or more classes")
    order = np.random.default_rng(seed).permutation(count)
    val = sorted(int(c) for c in order[:wanted])
    return sorted(set(range(count)) - set(val)), val


def _subset(folder: LabelledFolder, classes: list[int], per_class: Optional[int]) -> LabelledFolder:
    keep = []
    for c in classes:
        rows = np.flatnonzero(folder.labels == c)
        keep.extend(rows[:per_class] if per_class else rows)
    keep = sorted(keep)
    return LabelledFolder([folder.paths[i] for i in keep], folder.labels[keep], folder.classes)


def _measure(model: Any, part: LabelledFolder, batch_size: int) -> Optional[Quality]:
    if len(part.paths) < 2:
        return None
    result = model.encode_images(part.paths, batch_size=batch_size, progress=False)
    return leave_one_out(result.vectors, part.labels[result.ok])


def head_rate_layers(module: Any, names: Optional[Sequence[str]]) -> list[str]:
    """Qualified names of the encoder modules trained at the head's learning rate.

    A module matches when the last part of its dotted name is one of ``names``; ``None`` = the default,
    the encoder's final 1x1 projection (timm's ``conv_head``) when it has one. Explicit names that
    match no module are a ``ValueError`` naming them.
    """
    wanted = DEFAULT_HEAD_RATE_LAYERS if names is None else tuple(names)
    found = [name for name, _ in module.named_modules()
             if name and not name.startswith("head.") and name != "head" and name.rsplit(".", 1)[-1] in wanted]
    if names is not None:
        missing = [n for n in wanted if not any(f.rsplit(".", 1)[-1] == n for f in found)]
        if missing:
            raise ValueError(f"head_lr_layers: no encoder module named {', '.join(map(repr, missing))} "
                             "(give the last part of a module name, e.g. conv_head, or none)")
    return found


def param_groups(module: Any, lr: float, head_lr_mult: float, head_rate: Sequence[str] = ()) -> list[dict]:
    """Optimizer groups: the retriever's ``head`` module, plus the encoder modules named in ``head_rate``
    (qualified names), at ``lr * head_lr_mult``; everything else at ``lr``. By module, not by name
    substring: the encoder's ``conv_head`` is not part of the head unless listed."""
    fast = list(module.head.parameters())
    modules = dict(module.named_modules())
    for name in head_rate:
        fast.extend(modules[name].parameters())
    fast_ids = {id(p) for p in fast}
    encoder = [p for p in module.parameters() if id(p) not in fast_ids and p.requires_grad]
    unique = list({id(p): p for p in fast if p.requires_grad}.values())
    return [{"params": encoder, "lr": lr}, {"params": unique, "lr": lr * head_lr_mult}]


def _train_pipeline(size: int) -> list[dict]:
    return [dict(type="LoadImageFromFile"),
            dict(type="RandomResizedCrop", scale=size, crop_ratio_range=(0.5, 1.0), interpolation="bicubic"),
            dict(type="RandomFlip", prob=0.5, direction="horizontal")]


def _model_config(model: Any) -> dict:
    """The retriever config to write: the encoder without its own pretrained loading, no head."""
    config = copy.deepcopy(model.provenance["encoder"])
    config.pop("head", None)
    config.pop("prototype", None)
    for part in config.get("image_encoder", []):
        if isinstance(part, dict) and "pretrained" in part:
            part["pretrained"] = False
    config["pretrained"] = "{{ fileDirname }}/" + WEIGHTS_FILE
    return config


def write_model_dir(out: Path, model: Any, module: Any, provenance: dict) -> None:
    """config.py + weights.pth (encoder tensors only, weights-only loadable) + preprocessing + provenance."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in module.state_dict().items()
             if not key.startswith("head.")}
    torch.save(state, out / WEIGHTS_FILE)
    pipeline = [dict(step) for step in model.preprocessing.pipeline]
    text = ("# Written by `imret finetune`; load with get_model('<this folder>/config.py') or\n"
            "# imret index --model <this folder>. The weights are weights.pth beside this file.\n"
            f"model = {_model_config(model)!r}\n\ntest_pipeline = {pipeline!r}\n")
    (out / CONFIG_FILE).write_text(text)
    (out / PREPROCESSING_FILE).write_text(json.dumps(model.preprocessing.to_json(), indent=1))
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=1, default=str))


def finetune(folder: Union[str, os.PathLike], out: Union[str, os.PathLike], model_name: str,
             options: Optional[FinetuneOptions] = None, progress: bool = True) -> FinetuneReport:
    """Fine-tune ``model_name`` on ``folder`` (one sub-folder per class) and write the model folder ``out``."""
    import torch
    from tqdm import tqdm

    from imret.models.heads import ArcFaceClsHead
    from imret.structures import DataSample

    from .files import files_fingerprint
    from .pipeline import ImageTransform
    from .zoo import get_model

    options = options or FinetuneOptions()
    options.check()
    data = read_labelled_folder(folder)
    train_ids, val_ids = split_classes(data, options.val_fraction, options.seed)
    train = _subset(data, train_ids, options.max_images_per_class)
    val = _subset(data, val_ids, None)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} exists and is not empty; choose a new folder")

    model = get_model(model_name, runtime="torch", device="cpu")
    module = model.module
    if module is None:
        raise ValueError(f"{model_name} has no trainable torch module (an export bundle?); fine-tune a zoo "
                         "model or a config file")
    torch.manual_seed(options.seed)
    np.random.seed(options.seed)
    report = FinetuneReport(str(out), len(train.paths), [data.classes[c] for c in train_ids],
                            [data.classes[c] for c in val_ids])
    before = _measure(model, val, options.batch_size) if val_ids else None
    report.before = before.to_json() if before else None

    dim = int(model.encode_images(train.paths[:1], batch_size=1).vectors.shape[1])
    label_of = {c: i for i, c in enumerate(train_ids)}
    module.head = ArcFaceClsHead(num_classes=len(train_ids), in_channels=dim, scale=options.scale,
                                 margins=options.margin)
    head_rate = head_rate_layers(module, options.head_lr_layers)
    optimizer = torch.optim.SGD(param_groups(module, options.lr, options.head_lr_mult, head_rate), momentum=0.9,
                                nesterov=True, weight_decay=options.weight_decay)
    steps_per_epoch = math.ceil(len(train.paths) / options.batch_size)
    total_steps = steps_per_epoch * options.epochs
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    transform = ImageTransform(_train_pipeline(options.train_size))
    rng = np.random.default_rng(options.seed)
    step = 0
    module.train()
    for epoch in range(options.epochs):
        order = rng.permutation(len(train.paths))
        bar = tqdm(range(steps_per_epoch), desc=f"finetune epoch {epoch + 1}/{options.epochs}", unit="step",
                   disable=not progress, file=sys.stderr, dynamic_ncols=True)
        for batch_index in bar:
            rows = order[batch_index * options.batch_size:(batch_index + 1) * options.batch_size]
            if len(rows) < 2:
                continue  # BatchNorm needs two samples
            arrays = [transform(train.paths[i]) for i in rows]
            inputs = torch.from_numpy(model.preprocessing.normalize(arrays))
            samples = [DataSample().set_gt_label(label_of[int(train.labels[i])]) for i in rows]
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            loss = module.loss(inputs, samples)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            report.losses.append(loss.item())
            bar.set_postfix(loss=f"{report.losses[-1]:.3f}")
        bar.close()
    module.eval()

    provenance = {"base_model": model.name, "base_provenance": model.provenance,
                  "finetune": dict(asdict(options), folder=str(Path(folder).resolve()),
                                   files_fingerprint=files_fingerprint(train.paths),
                                   train_classes=report.train_classes, val_classes=report.val_classes,
                                   head_rate_modules=head_rate,
                                   recipe="ArcFaceClsHead + SGD, cosine decay, lr multiplier on the head "
                                          "and head_rate_modules")}
    write_model_dir(out, model, module, provenance)
    if val_ids:
        tuned = get_model(str(out / CONFIG_FILE), runtime="torch", device="cpu")
        after = _measure(tuned, val, options.batch_size)
        report.after = after.to_json() if after else None
        provenance["validation"] = {"before": report.before, "after": report.after}
        (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=1, default=str))
    return report
