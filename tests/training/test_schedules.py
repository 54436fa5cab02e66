"""The warm-up + cosine schedule: torch's own curve for one group, the same ratio across groups."""

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

from detkit.training.schedules import epochs_for, warmup_cosine


def _lrs(scheduler, steps):
    rates = []
    for _ in range(steps):
        rates.append([group["lr"] for group in scheduler.optimizer.param_groups])
        scheduler.optimizer.step()
        scheduler.step()
    return rates


def test_one_group_follows_torchs_linear_warmup_then_cosine():
    lr, total, warmup = 0.003, 60, 10
    ours = warmup_cosine(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr), total, warmup, 0.001, 0.01)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    torchs = SequentialLR(
        optimizer,
        [LinearLR(optimizer, 0.001, 1.0, warmup), CosineAnnealingLR(optimizer, total - warmup, eta_min=lr * 0.01)],
        milestones=[warmup],
    )
    assert [r[0] for r in _lrs(ours, total)] == pytest.approx([r[0] for r in _lrs(torchs, total)], rel=1e-6)


def test_every_group_keeps_its_ratio_down_to_the_floor():
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    optimizer = torch.optim.AdamW([{"params": [params[0]], "lr": 0.01}, {"params": [params[1]], "lr": 0.001}])
    rates = _lrs(warmup_cosine(optimizer, 30, 5, 0.001, 0.01), 31)
    assert all(backbone == pytest.approx(head / 10) for head, backbone in rates)
    assert rates[-1] == pytest.approx([0.01 * 0.01, 0.001 * 0.01])


@pytest.mark.parametrize(
    ("train_images", "epochs"), [(560, 8), (1120, 4), (5000, 4), (205, 22), (140, 32), (1, 4480), (0, 4480)]
)
def test_auto_epochs_see_at_least_twice_the_quick_starts_images(train_images, epochs):
    assert epochs_for(train_images) == epochs
