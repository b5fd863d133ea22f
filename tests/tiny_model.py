"""A tiny random-weight retrieval model config (ResNet-18 at 32 px) for fast model and runtime tests."""
from __future__ import annotations

TINY = {"model": dict(type="ImageToImageRetriever",
                      image_encoder=[dict(type="ResNet", depth=18), dict(type="GlobalAveragePooling")],
                      data_preprocessor=dict(mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True)),
        "pipeline": [dict(type="LoadImageFromFile"), dict(type="ResizeEdge", scale=40),
                     dict(type="CenterCrop", crop_size=32), dict(type="PackInputs")],
        "name": "tiny-resnet18"}
