"""train.device: auto picks CUDA only when present; the CPU path is what runs here."""

from __future__ import annotations

import pytest
import torch

from minarch import stages
from minarch.config import DeviceError


def test_auto_and_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert stages.resolve_device("auto") == torch.device("cpu") == stages.resolve_device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert stages.resolve_device("auto") == torch.device("cuda")


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="train.device is 'cuda' but torch sees no CUDA GPU") as error:
        stages.resolve_device("cuda")
    assert "\n" not in str(error.value)


def test_train_rows_record_the_device(splits):
    from minarch.settings import RunSpec, TrainSettings

    _, frame = stages.train_run(RunSpec("mnist", "dnn", "L1", 4, 0), splits, TrainSettings(max_epochs=1))
    assert set(frame["device"]) == {"cpu"}
