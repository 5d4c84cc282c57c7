"""Where training runs: device choice, CPU threads, seeds, and torchrun process groups."""

from __future__ import annotations

import dataclasses
import os
import random
import re

from ..environment import available_cores
from ..errors import ConfigError

#: What a device name may be; ``cuda:N`` picks the N-th GPU.
DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(name: str) -> str:
    """Return ``name`` if it names a device eegemo can run on, else raise ``ConfigError``.

    Parameters
    ----------
    name : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    """
    if not isinstance(name, str) or not DEVICE_NAME.fullmatch(name):
        raise ConfigError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {name!r}")
    return name


def resolve_device(name: str = "auto"):
    """Return the ``torch.device`` for ``name``.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA, then Apple MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
        or ``"mps"``.

    Returns
    -------
    device : torch.device
    """
    import torch

    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available here")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(
            f"device {name!r} requested but this machine has {torch.cuda.device_count()} "
            "CUDA device(s), numbered from 0"
        )
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("device 'mps' requested but Apple MPS is not available here")
    return torch.device(name)


def configure_threads(threads: int = 0, processes_per_node: int = 1) -> int:
    """Set PyTorch's intra-op threads; return the number used.

    Parameters
    ----------
    threads : int
        Explicit count, or 0 for the available cores shared among the processes of
        this node (so two torchrun workers on two cores get one thread each).
    processes_per_node : int
        Training processes on this machine.
    """
    import torch

    n = threads if threads > 0 else max(1, available_cores() // max(1, processes_per_node))
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch; optionally force deterministic algorithms."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seed the legacy generator others use)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@dataclasses.dataclass(frozen=True)
class DistContext:
    """This process's place in a (possibly single-process) training job.

    Attributes
    ----------
    rank, world_size, local_rank, local_world_size : int
        As set by ``torchrun``; ``0, 1, 0, 1`` for a plain process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints progress (rank 0)."""
        return self.rank == 0


def dist_context_from_env() -> DistContext:
    """Read the torchrun environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``...)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistContext(
        rank=int(os.environ.get("RANK", "0")),
        world_size=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))),
    )


def init_distributed(device_name: str = "auto") -> DistContext:
    """Join the torchrun process group when launched by torchrun; a no-op otherwise.

    Uses NCCL when CUDA is available (each process on ``cuda:LOCAL_RANK``) and gloo
    otherwise. Returns the :class:`DistContext`.
    """
    ctx = dist_context_from_env()
    if not ctx.distributed:
        return ctx
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return ctx
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(ctx.local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return ctx


def shutdown_distributed(wait: bool = True) -> None:
    """Leave the process group if one was joined.

    Parameters
    ----------
    wait : bool
        First wait until every process gets here. Without it a process that
        finishes first (rank 0 still writing its report) tears the gloo transport
        down under the others, which then abort; after an error, when the others
        may never arrive, pass False.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def process_device(ctx: DistContext, device_name: str):
    """The device of this process: ``cuda:LOCAL_RANK`` under torchrun with CUDA."""
    import torch

    device = resolve_device(device_name)
    if ctx.distributed and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device
