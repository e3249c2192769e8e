"""Distributed data parallel under torchrun: process group setup, data sharding, metric reduction.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; fit calls ``setup`` and then trains with DDP
(gloo on CPU, nccl on CUDA). Rank 0 alone logs and writes checkpoints."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Join the process group torchrun describes (if any) and return this rank's device."""
    if not launched_by_torchrun() or not dist.is_available():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few scalars over ranks (float64 so counts stay exact)."""
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def shard(indices: torch.Tensor) -> torch.Tensor:
    """This rank's share of ``indices`` for training: padded (with a wrap-around) to equal length, as
    DistributedSampler does, so every rank runs the same number of steps."""
    n, w = len(indices), world_size()
    if w == 1:
        return indices
    per = -(-n // w)
    padded = torch.cat([indices, indices[: per * w - n]]) if per * w > n else indices
    return padded[rank()::w]


def eval_shard(n: int) -> torch.Tensor:
    """This rank's disjoint share of 0..n-1 for evaluation (no padding: sums stay exact)."""
    return torch.arange(rank(), n, world_size())
