"""The device is chosen once: CUDA when present, else CPU; M2PT_DEVICE or an argument forces it."""
from __future__ import annotations

import os
from typing import Optional, Union

import torch


def pick_device(device: Optional[Union[str, torch.device]] = None) -> torch.device:
    choice = device or os.environ.get("M2PT_DEVICE")
    if choice:
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
