"""ClsDataPreprocessor (flip, normalize, pad, soft labels) and the Mixup / CutMix batch augments."""
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate

from imret.models.preprocessors import ClsDataPreprocessor, CutMix, Mixup, RandomBatchAugment
from imret.registry import BATCH_AUGMENTS, MODELS
from imret.structures import DataSample


def bgr_image(height, width, b, g, r):
    image = torch.empty(3, height, width, dtype=torch.uint8)
    image[0], image[1], image[2] = b, g, r
    return image


def labelled_batch(images, labels):
    items = [dict(inputs=img, data_samples=DataSample().set_gt_label(lab)) for img, lab in zip(images, labels)]
    return pseudo_collate(items)


def test_flip_and_normalize_hand_computed():
    pre = MODELS.build(dict(type="ClsDataPreprocessor", mean=[1, 2, 3], std=[2, 4, 6], to_rgb=True))
    out = pre(dict(inputs=[bgr_image(2, 2, 10, 20, 30)], data_samples=None))["inputs"]
    assert out.dtype == torch.float32 and out.shape == (1, 3, 2, 2)
    # RGB order after the flip: R=30, G=20, B=10
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 6]))
    plain = ClsDataPreprocessor(mean=[1, 2, 3], std=[2, 4, 6])
    out = plain(dict(inputs=[bgr_image(2, 2, 10, 20, 30)]))["inputs"]
    assert torch.allclose(out[0, :, 1, 1], torch.tensor([(10 - 1) / 2, (20 - 2) / 4, (30 - 3) / 6]))


def test_to_rgb_leaves_gray_images_alone():
    pre = ClsDataPreprocessor(mean=[100], std=[50], to_rgb=True)
    gray = torch.full((1, 1, 2, 2), 200, dtype=torch.uint8)
    assert torch.allclose(pre(dict(inputs=gray))["inputs"], torch.full((1, 1, 2, 2), 2.0))


def test_pads_to_largest_image_and_divisor():
    pre = ClsDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1], pad_value=-5)
    images = [bgr_image(2, 3, 1, 1, 1), bgr_image(4, 2, 2, 2, 2)]
    out = pre(dict(inputs=images))["inputs"]
    assert out.shape == (2, 3, 4, 3)
    assert torch.all(out[0, :, :2, :3] == 1) and torch.all(out[0, :, 2:, :] == -5)
    assert torch.all(out[1, :, :, :2] == 2) and torch.all(out[1, :, :, 2:] == -5)
    out = ClsDataPreprocessor(pad_size_divisor=4)(dict(inputs=images))["inputs"]
    assert out.shape == (2, 3, 4, 4) and out[0, 0, 3, 3] == 0 and out[0, 0, 1, 2] == 1


def test_stacked_default_collate_equals_list_path():
    images = [bgr_image(3, 3, 10 * i, 20, 30 + i) for i in range(3)]
    pre = ClsDataPreprocessor(mean=[5, 6, 7], std=[2, 3, 4], to_rgb=True, pad_size_divisor=2)
    stacked = default_collate([dict(inputs=img) for img in images])
    assert isinstance(stacked["inputs"], torch.Tensor)
    assert torch.equal(pre(stacked)["inputs"], pre(dict(inputs=images))["inputs"])


def test_vector_inputs_are_normalized_along_dim1():
    pre = ClsDataPreprocessor(mean=[1.0, 2.0], std=[2.0, 2.0])
    out = pre(dict(inputs=[torch.tensor([3.0, 6.0]), torch.tensor([1.0, 2.0])]))["inputs"]
    assert torch.allclose(out, torch.tensor([[1.0, 2.0], [0.0, 0.0]]))


def test_channel_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="3 mean/std values but the inputs have 4 channels"):
        ClsDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])(dict(inputs=torch.zeros(1, 4, 2, 2)))


def test_training_batch_augments_need_num_classes():
    cfg = dict(augments=[dict(type="Mixup", alpha=0.8)])
    data = labelled_batch([bgr_image(2, 2, 1, 2, 3)] * 2, [0, 1])
    with pytest.raises(ValueError, match="num_classes"):
        ClsDataPreprocessor(batch_augments=cfg)(data, training=True)


def test_training_sets_soft_scores_and_eval_does_not():
    torch.manual_seed(0)
    cfg = dict(augments=[dict(type="Mixup", alpha=0.8), dict(type="CutMix", alpha=1.0)], probs=None)
    pre = ClsDataPreprocessor(num_classes=4, batch_augments=cfg)
    assert isinstance(pre.batch_augments, RandomBatchAugment) and len(pre.batch_augments.augments) == 2
    images = [bgr_image(4, 4, v, v, v) for v in (0, 100, 200)]
    out = pre(labelled_batch(images, [0, 1, 3]), training=True)
    scores = torch.stack([s.gt_score for s in out["data_samples"]])
    assert scores.shape == (3, 4) and torch.allclose(scores.sum(1), torch.ones(3))
    assert torch.all(scores[:, 2] == 0)
    evaluated = pre(labelled_batch(images, [0, 1, 3]), training=False)
    assert "gt_score" not in evaluated["data_samples"][0]
    assert torch.equal(evaluated["inputs"], torch.stack(images).float())
    onehot = ClsDataPreprocessor(num_classes=4, to_onehot=True)(labelled_batch(images, [0, 1, 3]))
    assert onehot["data_samples"][2].gt_score.tolist() == [0.0, 0.0, 0.0, 1.0]


def constant_batch(n=6, size=8):
    """Image i is filled with the value i; its score is one-hot at i."""
    inputs = torch.arange(n, dtype=torch.float).view(n, 1, 1, 1).expand(n, 3, size, size).clone()
    return inputs, torch.eye(n)


@pytest.mark.parametrize("seed", range(4))
def test_mixup_blends_pixels_and_scores_consistently(seed):
    torch.manual_seed(seed)
    inputs, scores = constant_batch()
    mixed, mixed_scores = BATCH_AUGMENTS.build(dict(type="Mixup", alpha=0.8))(inputs, scores)
    assert torch.allclose(mixed_scores.sum(1), torch.ones(6))
    for i in range(6):
        # pixel value = lam * i + (1 - lam) * j where the scores say lam at i and 1 - lam at j
        expected = (mixed_scores[i] * torch.arange(6.0)).sum()
        assert torch.allclose(mixed[i], expected.expand_as(mixed[i]), atol=1e-5)
        assert (mixed_scores[i] > 0).sum() <= 2


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("minmax", [None, (0.2, 0.6)])
def test_cutmix_pastes_one_box_and_scores_follow_its_area(seed, minmax):
    torch.manual_seed(seed)
    inputs, scores = constant_batch()
    mixed, mixed_scores = CutMix(alpha=1.0, cutmix_minmax=minmax)(inputs, scores)
    assert torch.allclose(mixed_scores.sum(1), torch.ones(6))
    changed_masks = []
    for i in range(6):
        foreign = mixed[i] != i
        partners = torch.unique(mixed[i][foreign])
        assert partners.numel() <= 1  # one partner image
        if partners.numel():
            j = int(partners.item())
            area = foreign[0].float().mean().item()
            assert mixed_scores[i, j].item() == pytest.approx(area, abs=1e-6)
            assert mixed_scores[i, i].item() == pytest.approx(1 - area, abs=1e-6)
        changed_masks.append(foreign[0])
    # the same box is pasted into every image whose partner differs from itself
    rows, cols = torch.nonzero(torch.stack(changed_masks).any(0), as_tuple=True)
    if rows.numel():
        box = torch.zeros(8, 8, dtype=torch.bool)
        box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert all(torch.equal(m, box) for m in changed_masks if m.any())


def test_random_batch_augment_probabilities():
    inputs, scores = constant_batch()
    never = RandomBatchAugment([dict(type="Mixup", alpha=1.0)], probs=[0.0])
    out, out_scores = never(inputs, scores)
    assert out is inputs and out_scores is scores
    with pytest.raises(ValueError, match="sum to at most 1"):
        RandomBatchAugment([Mixup(1.0), CutMix(1.0)], probs=[0.7, 0.7])
    with pytest.raises(KeyError, match="Mixup"):
        BATCH_AUGMENTS.build(dict(type="MixUp", alpha=1.0))
