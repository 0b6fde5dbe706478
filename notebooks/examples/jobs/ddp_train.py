"""Distributed data-parallel training on CPU (gloo): each worker trains on its own shard,
gradients are all-reduced by DDP, and rank 0 logs the all-reduced loss every step.

Run it as a TrainingJob with two workers (the runtime sets MASTER_ADDR, MASTER_PORT, RANK,
WORLD_SIZE as torchrun would) — from a notebook, ``%%ml_train --workers 2`` over this code or
``ml.train(Path("ddp_train.py").read_text(), workers=2)`` — or bare with
``torchrun --nproc-per-node 2 ddp_train.py``, and the SDK logs to an ad-hoc run.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import hanzo_ml_lab as ml


def main() -> None:
    dist.init_process_group("gloo")  # env:// reads MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
    rank, world = dist.get_rank(), dist.get_world_size()
    print(f"rank {rank} of {world}, rendezvous at {os.environ['MASTER_ADDR']}:"
          f"{os.environ['MASTER_PORT']}", flush=True)
    # Defaults, then the job's params. Those are already params of the run (write-once), so they
    # are logged back as given — lr=1 stays "1" rather than becoming a conflicting "1.0".
    hp = {"steps": 60, "lr": 0.05, "batch_size": 64} | ml.params()
    steps, lr, batch = int(hp["steps"]), float(hp["lr"]), int(hp["batch_size"])
    if rank == 0:
        ml.log_params({**hp, "world_size": world})
        ml.log_param("total_steps", steps)  # the live view's progress bar total

    torch.manual_seed(0)  # the same true weights everywhere
    true_w = torch.randn(16, 1)
    data = torch.Generator().manual_seed(1000 + rank)  # a different shard per rank
    model = DistributedDataParallel(torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for step in range(steps):
        x = torch.randn(batch, 16, generator=data)
        y = x @ true_w + 0.01 * torch.randn(batch, 1, generator=data)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()  # DDP all-reduces the gradients here
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        mean_loss /= world
        opt.step()
        if rank == 0:
            ml.log_metric("loss", mean_loss.item(), step=step)
    if rank == 0:
        ml.log_metric("final_loss", mean_loss.item(), step=steps)
        print(f"done: {steps} steps on {world} workers, final loss {mean_loss.item():.5f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
