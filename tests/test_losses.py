"""Tests of deit.losses against values computed by hand (plain Python math, no torch losses)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from deit.errors import ConfigError
from deit.losses import DistillationLoss, SoftTargetCrossEntropy, build_base_criterion

# two samples, three classes
CLS = [[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]
DIST = [[1.0, -0.5, 0.3], [-1.0, 2.0, 0.5]]
TEACHER = [[0.2, 1.5, -0.3], [0.0, -2.0, 4.0]]  # argmax: 1, 2
LABELS = [0, 2]


def _log_softmax(row: list[float], t: float = 1.0) -> list[float]:
    z = [v / t for v in row]
    m = max(z)
    lse = m + math.log(sum(math.exp(v - m) for v in z))
    return [v - lse for v in z]


def _ce(rows: list[list[float]], labels: list[int], smoothing: float = 0.0) -> float:
    total = 0.0
    for row, y in zip(rows, labels):
        lp = _log_softmax(row)
        c = len(row)
        # label smoothing as in torch: (1 - s) on the label + s / C spread over all classes
        total += sum(-((1 - smoothing) * (k == y) + smoothing / c) * lp[k] for k in range(c))
    return total / len(rows)


def _kl_sum(student: list[list[float]], teacher: list[list[float]], t: float) -> float:
    total = 0.0
    for s_row, t_row in zip(student, teacher):
        ls, lt = _log_softmax(s_row, t), _log_softmax(t_row, t)
        total += sum(math.exp(lt[k]) * (lt[k] - ls[k]) for k in range(len(s_row)))
    return total


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def _labels() -> torch.Tensor:
    return torch.tensor(LABELS)


# ----------------------------------------------------------------------------- base criteria


def test_plain_ce_matches_hand_value():
    crit = build_base_criterion(mixup_active=False, smoothing=0.0)
    assert isinstance(crit, nn.CrossEntropyLoss) and crit.label_smoothing == 0.0
    assert crit(_t(CLS), _labels()).item() == pytest.approx(_ce(CLS, LABELS), rel=1e-6)


def test_label_smoothing_matches_hand_value():
    crit = build_base_criterion(mixup_active=False, smoothing=0.1)
    assert crit(_t(CLS), _labels()).item() == pytest.approx(_ce(CLS, LABELS, smoothing=0.1), rel=1e-6)


def test_soft_target_ce_matches_hand_value():
    crit = build_base_criterion(mixup_active=True, smoothing=0.1)
    assert isinstance(crit, SoftTargetCrossEntropy)
    soft = [[0.7, 0.2, 0.1], [0.0, 0.4, 0.6]]
    expected = 0.0
    for row, tgt in zip(CLS, soft):
        lp = _log_softmax(row)
        expected += sum(-tgt[k] * lp[k] for k in range(3))
    expected /= 2
    assert crit(_t(CLS), _t(soft)).item() == pytest.approx(expected, rel=1e-6)


def test_soft_target_ce_accepts_integer_labels_as_one_hot():
    crit = SoftTargetCrossEntropy()
    assert crit(_t(CLS), _labels()).item() == pytest.approx(_ce(CLS, LABELS), rel=1e-6)


def test_soft_target_ce_rejects_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        SoftTargetCrossEntropy()(_t(CLS), torch.ones(2, 4))


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_bad_smoothing(smoothing):
    with pytest.raises(ConfigError, match="smoothing"):
        build_base_criterion(False, smoothing)


# ----------------------------------------------------------------------------- no distillation


def test_none_plain_student():
    loss = DistillationLoss(nn.CrossEntropyLoss(), "none")
    total, parts = loss(_t(CLS), _labels())
    assert total.item() == pytest.approx(_ce(CLS, LABELS), rel=1e-6)
    assert set(parts) == {"base", "total"}


def test_none_distilled_student_trains_both_heads_on_labels():
    loss = DistillationLoss(nn.CrossEntropyLoss(), "none")
    cls, dist = _t(CLS).requires_grad_(), _t(DIST).requires_grad_()
    total, parts = loss((cls, dist), _labels())
    expected = (_ce(CLS, LABELS) + _ce(DIST, LABELS)) / 2
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert parts["base"].item() == pytest.approx(_ce(CLS, LABELS), rel=1e-6)
    assert parts["base_dist"].item() == pytest.approx(_ce(DIST, LABELS), rel=1e-6)
    total.backward()
    assert dist.grad is not None and dist.grad.abs().sum() > 0
    assert cls.grad is not None and cls.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- hard distillation


def test_hard_distillation():
    loss = DistillationLoss(nn.CrossEntropyLoss(label_smoothing=0.1), "hard", alpha=0.5)
    total, parts = loss((_t(CLS), _t(DIST)), _labels(), _t(TEACHER))
    base = _ce(CLS, LABELS, smoothing=0.1)
    teacher_term = _ce(DIST, [1, 2])  # no label smoothing on the teacher labels
    assert parts["base"].item() == pytest.approx(base, rel=1e-6)
    assert parts["distill"].item() == pytest.approx(teacher_term, rel=1e-6)
    assert total.item() == pytest.approx(0.5 * base + 0.5 * teacher_term, rel=1e-6)
    assert parts["total"].item() == pytest.approx(total.item())
    assert all(not p.requires_grad for p in parts.values())


def test_hard_distillation_with_mixup_targets():
    soft = [[0.7, 0.2, 0.1], [0.0, 0.4, 0.6]]
    loss = DistillationLoss(SoftTargetCrossEntropy(), "hard", alpha=0.25)
    total, _ = loss((_t(CLS), _t(DIST)), _t(soft), _t(TEACHER))
    base = sum(-sum(t * lp for t, lp in zip(tg, _log_softmax(r))) for r, tg in zip(CLS, soft)) / 2
    assert total.item() == pytest.approx(0.75 * base + 0.25 * _ce(DIST, [1, 2]), rel=1e-6)


# ----------------------------------------------------------------------------- soft distillation


@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_soft_distillation_official_normalization(tau):
    alpha = 0.1
    loss = DistillationLoss(nn.CrossEntropyLoss(), "soft", alpha=alpha, tau=tau)
    total, parts = loss((_t(CLS), _t(DIST)), _labels(), _t(TEACHER))
    kd = _kl_sum(DIST, TEACHER, tau) / (2 * 3) * tau * tau  # sum / (B * C)
    assert parts["distill"].item() == pytest.approx(kd, rel=1e-5)
    expected = (1 - alpha) * _ce(CLS, LABELS) + alpha * kd
    assert total.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_soft_distillation_batchmean_normalization(tau):
    alpha = 0.1
    loss = DistillationLoss(
        nn.CrossEntropyLoss(), "soft", alpha=alpha, tau=tau, soft_normalization="batchmean"
    )
    total, parts = loss((_t(CLS), _t(DIST)), _labels(), _t(TEACHER))
    kd = _kl_sum(DIST, TEACHER, tau) / 2 * tau * tau  # sum / B
    assert parts["distill"].item() == pytest.approx(kd, rel=1e-5)
    assert total.item() == pytest.approx((1 - alpha) * _ce(CLS, LABELS) + alpha * kd, rel=1e-5)


def test_official_is_batchmean_over_num_classes():
    args = ((_t(CLS), _t(DIST)), _labels(), _t(TEACHER))
    official = DistillationLoss(nn.CrossEntropyLoss(), "soft", tau=3.0)(*args)[1]["distill"]
    textbook = DistillationLoss(nn.CrossEntropyLoss(), "soft", tau=3.0, soft_normalization="batchmean")(
        *args
    )[1]["distill"]
    assert official.item() == pytest.approx(textbook.item() / 3, rel=1e-6)


def test_soft_distillation_is_zero_when_student_matches_teacher():
    loss = DistillationLoss(nn.CrossEntropyLoss(), "soft", alpha=1.0, tau=3.0)
    total, _ = loss((_t(CLS), _t(TEACHER)), _labels(), _t(TEACHER))
    assert abs(total.item()) < 1e-6


def test_alpha_one_ignores_labels_and_alpha_zero_ignores_teacher():
    args = ((_t(CLS), _t(DIST)), _labels(), _t(TEACHER))
    only_teacher, _ = DistillationLoss(nn.CrossEntropyLoss(), "hard", alpha=1.0)(*args)
    assert only_teacher.item() == pytest.approx(_ce(DIST, [1, 2]), rel=1e-6)
    only_labels, _ = DistillationLoss(nn.CrossEntropyLoss(), "hard", alpha=0.0)(*args)
    assert only_labels.item() == pytest.approx(_ce(CLS, LABELS), rel=1e-6)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_no_gradient_into_teacher_and_teacher_term_trains_dist_head(kind):
    teacher = _t(TEACHER).requires_grad_()
    cls, dist = _t(CLS).requires_grad_(), _t(DIST).requires_grad_()
    loss = DistillationLoss(nn.CrossEntropyLoss(), kind, alpha=1.0, tau=2.0)
    total, _ = loss((cls, dist), _labels(), teacher)
    total.backward()
    assert teacher.grad is None
    assert dist.grad is not None and dist.grad.abs().sum() > 0
    # alpha = 1: the class head gets no gradient from the teacher term
    assert cls.grad is None or cls.grad.abs().sum() == 0


def test_soft_gradient_matches_hand_formula():
    # d/dz_s [tau^2 * KL(p_t || softmax(z_s / tau)) / (B*C)] = tau * (p_s - p_t) / (B*C)
    tau = 2.0
    dist = _t(DIST).requires_grad_()
    loss = DistillationLoss(nn.CrossEntropyLoss(), "soft", alpha=1.0, tau=tau)
    total, _ = loss((_t(CLS), dist), _labels(), _t(TEACHER))
    total.backward()
    for b in range(2):
        ps = [math.exp(v) for v in _log_softmax(DIST[b], tau)]
        pt = [math.exp(v) for v in _log_softmax(TEACHER[b], tau)]
        for k in range(3):
            assert dist.grad[b, k].item() == pytest.approx(tau * (ps[k] - pt[k]) / 6, abs=1e-6)


def test_half_precision_inputs_give_float32_loss():
    loss = DistillationLoss(nn.CrossEntropyLoss(), "soft", alpha=0.5, tau=3.0)
    _, parts = loss((_t(CLS), _t(DIST).bfloat16()), _labels(), _t(TEACHER).bfloat16())
    assert parts["distill"].dtype == torch.float32


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_non_distilled_student_cannot_be_distilled(kind):
    loss = DistillationLoss(nn.CrossEntropyLoss(), kind)
    with pytest.raises(ConfigError, match="non-distilled student cannot be distilled"):
        loss(_t(CLS), _labels(), _t(TEACHER))
    with pytest.raises(ConfigError, match="_distilled_"):
        DistillationLoss(nn.CrossEntropyLoss(), kind, distilled_student=False)


def test_missing_teacher_logits():
    loss = DistillationLoss(nn.CrossEntropyLoss(), "hard")
    with pytest.raises(ConfigError, match="teacher logits"):
        loss((_t(CLS), _t(DIST)), _labels())


def test_teacher_class_count_mismatch():
    loss = DistillationLoss(nn.CrossEntropyLoss(), "soft")
    with pytest.raises(ConfigError, match="same classes"):
        loss((_t(CLS), _t(DIST)), _labels(), torch.zeros(2, 5))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distillation_type": "medium"}, "distillation_type"),
        ({"distillation_type": "soft", "soft_normalization": "mean"}, "soft_normalization"),
        ({"distillation_type": "soft", "alpha": 1.5}, "alpha"),
        ({"distillation_type": "soft", "tau": 0.0}, "tau"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DistillationLoss(nn.CrossEntropyLoss(), **kwargs)
