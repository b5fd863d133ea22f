"""ArcFaceClsHead, LinearClsHead and CrossEntropyLoss against hand-computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from imret.models.heads import ArcFaceClsHead, LinearClsHead
from imret.models.losses import CrossEntropyLoss
from imret.registry import MODELS
from imret.structures import DataSample


def unit(angle: float) -> list[float]:
    return [math.cos(angle), math.sin(angle)]


def arcface_2d(num_classes=2, **kwargs) -> ArcFaceClsHead:
    """A head on 2-D features whose class j has center at angle j * pi/2 (so cosines are known)."""
    head = ArcFaceClsHead(num_classes=num_classes, in_channels=2, **kwargs)
    with torch.no_grad():
        centers = [unit(j * math.pi / 2) for j in range(num_classes * head.num_subcenters)]
        head.norm_product.weight.copy_(torch.tensor(centers) * 3.0)  # norms must not matter
    return head


def samples(labels, scores=None):
    out = []
    for i, label in enumerate(labels):
        s = DataSample().set_gt_label(label)
        if scores is not None:
            s.set_gt_score(scores[i])
        out.append(s)
    return out


def test_arcface_margin_zero_is_scaled_cosine():
    head = ArcFaceClsHead(num_classes=5, in_channels=8, scale=16.0, margins=0.0)
    feats = torch.randn(4, 8)
    cosine = F.normalize(feats) @ F.normalize(head.norm_product.weight).t()
    target = torch.tensor([0, 3, 4, 1])
    assert torch.allclose(head((feats,), target), 16.0 * cosine, atol=1e-5)
    assert torch.allclose(head(feats), 16.0 * cosine, atol=1e-5)


def test_arcface_margin_lowers_only_the_target_logit():
    head = arcface_2d(scale=10.0, margins=0.5)
    theta = 0.3  # feature at angle 0.3: cos to class 0 = cos(0.3), to class 1 = cos(pi/2 - 0.3)
    feats = torch.tensor([unit(theta)]) * 7.0
    logits = head((feats,), torch.tensor([0]))
    assert logits[0, 0].item() == pytest.approx(10.0 * math.cos(theta + 0.5), abs=1e-4)
    assert logits[0, 1].item() == pytest.approx(10.0 * math.cos(math.pi / 2 - theta), abs=1e-4)
    plain = head(feats)
    assert logits[0, 0] < plain[0, 0]


def test_arcface_beyond_pi_minus_m_uses_linear_penalty_unless_easy_margin():
    m = 0.5
    theta = math.pi - 0.2  # theta + m > pi
    feats = torch.tensor([unit(theta)])
    cos_t = math.cos(theta)
    hard = arcface_2d(scale=1.0, margins=m)
    assert hard(feats, torch.tensor([0]))[0, 0].item() == pytest.approx(cos_t - math.sin(math.pi - m) * m, abs=1e-5)
    easy = arcface_2d(scale=1.0, margins=m, easy_margin=True)
    assert easy(feats, torch.tensor([0]))[0, 0].item() == pytest.approx(cos_t, abs=1e-5)
    # easy margin: cos > 0 gets cos(theta + m); cos <= 0 (theta = 2.0 rad, still < pi - m) stays unchanged
    assert easy(torch.tensor([unit(0.4)]), torch.tensor([0]))[0, 0].item() == pytest.approx(math.cos(0.9), abs=1e-5)
    obtuse = torch.tensor([unit(2.0)])
    assert easy(obtuse, torch.tensor([0]))[0, 0].item() == pytest.approx(math.cos(2.0), abs=1e-5)
    assert hard(obtuse, torch.tensor([0]))[0, 0].item() == pytest.approx(math.cos(2.5), abs=1e-5)


def test_arcface_per_class_margins_list_and_file(tmp_path):
    feats = torch.tensor([unit(0.2), unit(math.pi / 2 + 0.1)])
    target = torch.tensor([0, 1])
    path = tmp_path / "margins.txt"
    path.write_text("0.1\n0.3\n")
    for margins in ([0.1, 0.3], str(path)):
        out = arcface_2d(scale=1.0, margins=margins)(feats, target)
        assert out[0, 0].item() == pytest.approx(math.cos(0.3), abs=1e-5)
        assert out[1, 1].item() == pytest.approx(math.cos(0.4), abs=1e-5)
    with pytest.raises(ValueError, match="3 margins for num_classes=2"):
        ArcFaceClsHead(num_classes=2, in_channels=2, margins=[0.1, 0.2, 0.3])


def test_arcface_subcenters_take_the_max():
    head = ArcFaceClsHead(num_classes=2, in_channels=2, num_subcenters=2, scale=1.0, margins=0.0)
    with torch.no_grad():  # rows: class 0 centers at angles 0 and 1.0; class 1 centers at 2.0 and 3.0
        head.norm_product.weight.copy_(torch.tensor([unit(0.0), unit(1.0), unit(2.0), unit(3.0)]))
    feats = torch.tensor([unit(0.9), unit(2.8)])
    expected = torch.tensor([[math.cos(0.1), math.cos(1.1)],
                             [math.cos(1.8), math.cos(0.2)]])
    assert torch.allclose(head(feats), expected, atol=1e-5)


def test_arcface_loss_is_cross_entropy_of_margin_logits_hard_and_soft():
    head = MODELS.build(dict(type="ArcFaceClsHead", num_classes=3, in_channels=4, scale=8.0, margins=0.3))
    feats = torch.randn(5, 4, requires_grad=True)
    labels = [0, 2, 1, 1, 0]
    logits = head(feats, torch.tensor(labels))
    loss = head.loss((feats,), samples(labels))
    assert set(loss) == {"loss"} and loss["loss"].dim() == 0
    assert loss["loss"].item() == pytest.approx(F.cross_entropy(logits, torch.tensor(labels)).item(), rel=1e-5)
    loss["loss"].backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    soft = torch.softmax(torch.randn(5, 3), dim=1)
    soft_loss = head.loss((feats,), samples(labels, soft))["loss"]
    expected = -(soft * F.log_softmax(logits, dim=1)).sum(1).mean()
    assert soft_loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_arcface_predict_returns_softmax_scores_and_argmax():
    head = arcface_2d(num_classes=4, scale=4.0)
    feats = torch.tensor([unit(0.1), unit(math.pi + 0.1)])
    given = DataSample(metainfo=dict(sample_idx=7))
    preds = head.predict((feats,), [given, None])
    assert preds[0] is given and preds[0].sample_idx == 7
    assert [int(p.pred_label) for p in preds] == [0, 2]
    for p in preds:
        assert p.pred_score.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_loss_without_labels_is_a_clear_error():
    head = arcface_2d()
    with pytest.raises(ValueError, match="gt_label"):
        head.loss(torch.randn(2, 2), [DataSample(), DataSample()])


def test_linear_head_loss_predict_and_accuracy():
    head = LinearClsHead(num_classes=3, in_channels=4, topk=(1, 2), cal_acc=True)
    feats = torch.randn(6, 4)
    labels = [0, 1, 2, 0, 1, 2]
    scores = head.fc(feats)
    out = head.loss((torch.zeros(6, 9), feats), samples(labels))
    assert out["loss"].item() == pytest.approx(F.cross_entropy(scores, torch.tensor(labels)).item(), rel=1e-5)
    top1 = (scores.argmax(1) == torch.tensor(labels)).float().mean().item() * 100
    assert out["accuracy_top-1"].item() == pytest.approx(top1)
    preds = head.predict(feats)
    assert [int(p.pred_label) for p in preds] == scores.argmax(1).tolist()
    assert torch.allclose(preds[0].pred_score, torch.softmax(scores[0], 0).detach())


def log_softmax_by_hand(row):
    z = math.log(sum(math.exp(v) for v in row))
    return [v - z for v in row]


def test_cross_entropy_label_smoothing_hand_computed():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    eps = 0.1
    target = [eps / 3, eps / 3, 1 - eps + eps / 3]
    expected = -sum(t * lp for t, lp in zip(target, log_softmax_by_hand([1.0, 2.0, 3.0])))
    loss = MODELS.build(dict(type="CrossEntropyLoss", label_smooth_val=eps))(logits, torch.tensor([2]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert CrossEntropyLoss()(logits, torch.tensor([2])).item() == pytest.approx(
        -log_softmax_by_hand([1.0, 2.0, 3.0])[2], rel=1e-6)


def test_cross_entropy_soft_targets_weights_and_reductions():
    rows = [[0.5, -1.0, 2.0], [1.0, 1.0, 0.0]]
    soft = [[0.2, 0.0, 0.8], [0.5, 0.5, 0.0]]
    per_sample = [-sum(t * lp for t, lp in zip(s, log_softmax_by_hand(r))) for r, s in zip(rows, soft)]
    logits, target = torch.tensor(rows), torch.tensor(soft)
    assert CrossEntropyLoss(use_soft=True)(logits, target).item() == pytest.approx(sum(per_sample) / 2, rel=1e-6)
    none = CrossEntropyLoss(reduction="none", loss_weight=2.0)(logits, target)
    assert none.tolist() == pytest.approx([2 * v for v in per_sample], rel=1e-6)
    summed = CrossEntropyLoss()(logits, target, reduction_override="sum", weight=torch.tensor([1.0, 3.0]))
    assert summed.item() == pytest.approx(per_sample[0] + 3 * per_sample[1], rel=1e-6)
    cw = [1.0, 2.0, 0.5]
    weighted = CrossEntropyLoss(class_weight=cw)(logits, torch.tensor([2, 1]))
    lp0, lp1 = log_softmax_by_hand(rows[0]), log_softmax_by_hand(rows[1])
    assert weighted.item() == pytest.approx((-0.5 * lp0[2] - 2.0 * lp1[1]) / 2, rel=1e-6)


def test_cross_entropy_sigmoid_is_mean_binary_cross_entropy():
    logits = torch.tensor([[0.3, -1.2]])
    sig = [1 / (1 + math.exp(-v)) for v in (0.3, -1.2)]
    expected = -(math.log(1 - sig[0]) + math.log(sig[1])) / 2  # label 1 -> one-hot [0, 1]
    assert CrossEntropyLoss(use_sigmoid=True)(logits, torch.tensor([1])).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_bad_labels():
    with pytest.raises(ValueError, match="out of range"):
        CrossEntropyLoss()(torch.zeros(1, 3), torch.tensor([3]))
    with pytest.raises(ValueError, match="columns"):
        CrossEntropyLoss()(torch.zeros(1, 3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="reduction"):
        CrossEntropyLoss(reduction="avg")
