"""Training through the retriever: ArcFace loss backpropagates and decreases; train_cfg augments."""
from __future__ import annotations

import torch
from torch import nn

from imret.models import ImageToImageRetriever
from imret.structures import DataSample


def toy_problem(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 3, 8, 8, generator=generator)
    labels = torch.arange(4).repeat_interleave(6)
    images = centers[labels] + 0.3 * torch.randn(24, 3, 8, 8, generator=generator)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return images, samples


def build_model(**kwargs) -> ImageToImageRetriever:
    return ImageToImageRetriever(
        image_encoder=[dict(type="ResNet", depth=18, out_indices=(3,)), dict(type="GlobalAveragePooling")],
        prototype=torch.zeros(1, 512),
        head=dict(type="ArcFaceClsHead", num_classes=4, in_channels=512, scale=16.0, margins=0.2),
        **kwargs)


def test_arcface_loss_is_scalar_and_reaches_the_encoder():
    torch.manual_seed(0)
    model = build_model()
    images, samples = toy_problem()
    losses = model(images, samples, mode="loss")
    assert losses["loss"].ndim == 0 and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    first_conv = next(param for name, param in model.image_encoder.named_parameters() if "conv" in name)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0


def test_a_few_optimizer_steps_lower_the_loss():
    torch.manual_seed(0)
    model = build_model()
    images, samples = toy_problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    history = []
    for _ in range(12):
        optimizer.zero_grad()
        loss = model(images, samples, mode="loss")["loss"]
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.7 * history[0], history


def test_train_cfg_augments_reach_the_data_preprocessor():
    model = ImageToImageRetriever(
        image_encoder=nn.Identity(), prototype=torch.zeros(1, 3),
        data_preprocessor=dict(num_classes=4),
        train_cfg=dict(augments=[dict(type="Mixup", alpha=0.8)]))
    images = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8)
    samples = [DataSample().set_gt_label(i % 4) for i in range(6)]
    batch = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    scores = torch.stack([sample.gt_score for sample in batch["data_samples"]])
    torch.testing.assert_close(scores.sum(1), torch.ones(6))
    assert (scores > 0).sum(1).max() >= 2, "Mixup should mix labels of two samples"


def test_init_cfg_of_a_chained_encoder_part_is_applied():
    model = ImageToImageRetriever(
        image_encoder=[dict(type="ResNet", depth=18, init_cfg=dict(type="Constant", val=0.5, layer="Conv2d")),
                       dict(type="GlobalAveragePooling")],
        prototype=torch.zeros(1, 512))
    model.init_weights()
    convs = [module for module in model.image_encoder[0].modules() if isinstance(module, nn.Conv2d)]
    assert len(convs) == 20
    assert all(bool((conv.weight == 0.5).all()) for conv in convs)
