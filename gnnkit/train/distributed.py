"""Data-parallel node classification on sampled mini-batches with ``torch.distributed``:
:func:`fit_distributed` (launches the processes) and :func:`fit_rank` (runs inside one).

Every process (*rank*) holds the whole graph, the features and a replica of the model wrapped
in ``torch.nn.parallel.DistributedDataParallel`` (DDP). An optimisation step goes as follows:

* **What is sharded: the seeds.** All ranks draw the same permutation of the training nodes
  every epoch (one shared integer ``seed``, broadcast from rank 0) and deal it out
  round-robin: rank ``r`` trains on positions ``r, r + W, r + 2W, …`` of the permutation
  (``W`` = world size), in batches of ``batch_size / W`` seeds
  (:class:`gnnkit.data.loader.NeighborLoader` with ``shard=(r, W)``). Step ``b`` of all ranks
  together covers exactly the ``batch_size`` seeds that step ``b`` of a single-process run
  with the same ``seed`` (:func:`~gnnkit.train.node_classification.fit_sampled`) covers.
* **The remainder.** When the number ``S`` of training nodes is not a multiple of ``W``, the
  last ``S mod W`` seeds of each epoch's permutation are left out of that epoch (a different
  few every epoch, since the permutation changes), so every rank has ``⌊S / W⌋`` seeds and
  runs the same number of batches of the same sizes: no rank waits in a collective for a
  batch another rank does not have (the deadlock of dgl #2539), and no seed is counted twice
  (padding, ``DistributedSampler``'s default, would weight a few seeds double). The batch
  counts are also compared across ranks before training starts: ranks that disagree (e.g.
  different ``train_mask``) raise an error instead of hanging.
* **What is averaged: the gradients.** Each rank computes the mean cross-entropy of its own
  seeds (each neighbourhood sampled from the rank's stream ``(seed, epoch, rank, 1 + b)``);
  DDP averages the gradients over ranks during ``backward``. As every rank's batch has the
  same size, the average of the ranks' mean losses *is* the mean loss over the union of their
  batches, so one step equals a single-process step on the union (tested with 2 processes in
  float64 to rounding). Every replica then takes the same optimizer step from the same
  gradient, so the weights stay identical on all ranks.
* **Evaluation and stopping.** With ``inference="full"`` (the default) rank 0 evaluates
  full-batch (``model(x, graph)``, the inner module, no collective) while the others wait.
  With ``inference="layerwise"`` every rank evaluates together
  (:func:`gnnkit.train.inference.distributed_layerwise_inference` on the inner module): at
  every layer each rank computes its contiguous shard of the nodes and the shards are
  all-gathered, so every rank holds the same logits (equal to the full forward's up to float
  rounding). Either way rank 0 then broadcasts the epoch's metrics, including the training
  loss averaged over all ranks' seeds; every rank feeds the *same* numbers into the same
  :class:`~gnnkit.train.node_classification.EarlyStopping` and so stops at the same epoch, the
  time budget included (measured on rank 0). Every rank returns the same
  :class:`~gnnkit.train.node_classification.NodeFitResult`.

**Determinism.** Given ``seed`` and the initial weights, a run is determined by the world
size: the permutation, every rank's samples and, in a process group, every rank's dropout
masks (torch's global generator, seeded from ``(seed, rank)`` at the start of
:func:`fit_rank`; alone, the caller's generator state is used as is) are derived from
``seed``. With all fanouts ``-1`` and no dropout, ``W`` processes with
``batch_size`` follow :func:`~gnnkit.train.node_classification.fit_sampled` with the same
``batch_size`` step for step (up to float rounding) when ``S`` is a multiple of ``W``.

**Launching.** :func:`fit_distributed` spawns ``world_size`` processes on this machine
(``torch.multiprocessing.spawn``, a free ``127.0.0.1`` port, gloo on CPU, NCCL when
there is a GPU per rank) and returns rank 0's result, with the trained weights loaded into
the caller's model. Under ``torchrun`` (one or several machines) call :func:`fit_rank`
yourself after ``torch.distributed.init_process_group`` or :func:`init_from_env`
(``docs/sampling.md``); ``torchrun -m gnnkit bench`` does so for sampled experiments. Collectives
time out after ``timeout`` seconds, and a rank that raises makes ``spawn`` stop the others and
re-raise the error with the rank's traceback.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from gnnkit.data.loader import NeighborLoader
from gnnkit.data.sampling import sampling_generator
from gnnkit.sparse import SparseMatrix

from .inference import _check_same_on_every_rank, distributed_layerwise_inference
from .node_classification import (
    NodeFitResult,
    _layerwise_batch_size,
    _RunRecord,
    _train_sampled_epoch,
    make_optimizer,
)

__all__ = [
    "DistributedFitResult",
    "default_backend",
    "env_rank",
    "env_world_size",
    "fit_distributed",
    "fit_rank",
    "free_port",
    "init_from_env",
]

#: the gloo backend must use the loopback interface: nothing leaves this machine
_LOOPBACK = "127.0.0.1"


@dataclass
class DistributedFitResult(NodeFitResult):
    """:class:`~gnnkit.train.node_classification.NodeFitResult` of rank 0, plus:

    Attributes:
        world_size: the number of processes that trained.
        rank_states: every rank's final ``state_dict`` (CPU tensors), rank 0 first — equal on
            all ranks (:func:`fit_distributed` checks it).
    """

    world_size: int = 1
    rank_states: list[dict[str, Tensor]] = field(default_factory=list)


def free_port(host: str = _LOOPBACK) -> int:
    """A TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_backend(world_size: int) -> str:
    """``"nccl"`` when CUDA and NCCL are there with a GPU for each of the ``world_size``
    ranks, else ``"gloo"`` (CPU)."""
    if (torch.cuda.is_available() and torch.cuda.device_count() >= world_size
            and dist.is_nccl_available()):
        return "nccl"
    return "gloo"


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return int(text)
    except ValueError as error:
        raise ValueError(f"the environment variable {name}={text!r} must be an integer "
                         "(it is set by torchrun); unset it or fix the launcher") from error


def env_world_size() -> int:
    """``$WORLD_SIZE`` as ``torchrun`` sets it (1 when unset: a plain single process)."""
    return _env_int("WORLD_SIZE", 1)


def env_rank() -> int:
    """``$RANK`` as ``torchrun`` sets it (0 when unset)."""
    return _env_int("RANK", 0)


def init_from_env(*, backend: str | None = None, timeout: float = 300.0) -> bool:
    """Join the process group ``torchrun`` describes in the environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; ``init_method="env://"``), once per
    process: a second call, or a call with a group already initialised, does nothing.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; ``None``: NCCL when CUDA is there (each rank on GPU
            ``$LOCAL_RANK``), else gloo.
        timeout: seconds a collective may wait for the other ranks.

    Returns:
        ``True`` when this process is in an initialised group of more than one rank,
        ``False`` when ``$WORLD_SIZE`` is unset or 1 (nothing is initialised).

    With gloo and a loopback ``MASTER_ADDR`` (``torchrun --nproc_per_node`` on one machine),
    ``GLOO_SOCKET_IFNAME`` is set to the loopback interface unless already set, as
    :func:`fit_distributed` does. The group is destroyed when the process exits.
    """
    if not dist.is_available():
        if env_world_size() > 1:
            raise RuntimeError(f"WORLD_SIZE={env_world_size()} but torch.distributed is not "
                               "available in this torch build: run a single process")
        return False
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if env_world_size() <= 1:
        return False
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT")
               if name not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={env_world_size()} is set but {', '.join(missing)} "
                           "is not: launch with torchrun (python -m torch.distributed.run), "
                           "which sets all four, or unset WORLD_SIZE")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' (CPU) or 'nccl' (GPU), got {backend!r}")
    if backend == "gloo" and "GLOO_SOCKET_IFNAME" not in os.environ:
        address = os.environ["MASTER_ADDR"]
        if address in ("localhost", "::1") or address.startswith("127."):
            interface = _loopback_interface()
            if interface is not None:
                os.environ["GLOO_SOCKET_IFNAME"] = interface
    if backend == "nccl":
        torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
    dist.init_process_group(backend, init_method="env://",
                            timeout=timedelta(seconds=timeout))
    atexit.register(_destroy_process_group)
    return dist.get_world_size() > 1


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_batch_size(batch_size: object, world_size: int) -> int:
    batch_size = _check_positive_int("batch_size", batch_size)
    if batch_size % world_size:
        low = batch_size - batch_size % world_size
        raise ValueError(
            f"batch_size={batch_size} (seeds per step over all ranks) is not divisible by "
            f"world_size={world_size}: every rank takes batch_size / world_size seeds; use a "
            f"multiple of {world_size}, e.g. {max(low, world_size)} or {low + world_size}")
    return batch_size


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _broadcast(value: Any) -> Any:
    """``value`` of rank 0 on every rank (pickled; a no-op in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def fit_rank(
    model: torch.nn.Module,
    x: Tensor,
    graph: SparseMatrix,
    y: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    test_mask: Tensor | None = None,
    *,
    fanouts: Sequence[int],
    batch_size: int,
    seed: int | None = None,
    num_workers: int = 0,
    replace: bool = False,
    lr: float = 0.01,
    weight_decay: float = 0.0,
    weight_decay_scope: str = "all",
    optimizer: Callable[[Iterator[torch.nn.Parameter]], torch.optim.Optimizer] | None = None,
    epochs: int = 200,
    stopping: str = "none",
    patience: int = 0,
    time_budget: float | None = None,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
    inference: str = "full",
    inference_batch_size: int | None = None,
) -> NodeFitResult:
    """Train ``model`` as one rank of a data-parallel run (module docstring); call it on
    every rank with the same arguments, after ``torch.distributed.init_process_group``.
    Without an initialised process group it runs alone (rank 0 of 1, no DDP), i.e. as
    :func:`~gnnkit.train.node_classification.fit_sampled`.

    Args:
        model: takes ``model(x, graph) → (N, C)`` and ``model(x[n_id], matrices) → (B, C)``
            (e.g. :class:`gnnkit.models.sage.SAGE`), on the data's device; the same initial
            weights on every rank (DDP broadcasts rank 0's at the start anyway). Trained in
            place.
        x: ``(N, F)`` dense features; graph: the square ``N × N`` ``SparseMatrix``;
            y: ``(N,)`` int64 labels; train_mask, val_mask, test_mask: ``(N,)`` bool.
        fanouts: neighbours per node at every hop, first hop first (``-1`` = all).
        batch_size: seeds per optimisation step **over all ranks**; each rank takes
            ``batch_size / world_size`` (must divide).
        seed: the loader's seed; rank 0's value is broadcast and used by every rank
            (``None`` on rank 0: drawn there from torch's global generator).
        num_workers: sampling worker processes per rank.
        replace: sample with replacement.
        lr, weight_decay, weight_decay_scope: Adam
            (:func:`~gnnkit.train.node_classification.make_optimizer`), unless
        optimizer: ``optimizer(model.parameters()) → torch.optim.Optimizer`` replaces Adam,
            e.g. ``functools.partial(torch.optim.SGD, lr=0.1)`` (picklable, as
            :func:`fit_distributed` needs).
        epochs, stopping, patience, time_budget, keep_best_state: as in
            :func:`~gnnkit.train.node_classification.fit` (the budget is rank 0's clock).
        log: called on rank 0 with every epoch's history entry.
        inference: how the validation and test logits are computed
            (:data:`~gnnkit.train.node_classification.INFERENCE_MODES`): ``"full"`` (default)
            — one forward ``model(x, graph)`` on rank 0 while the other ranks wait;
            ``"layerwise"`` — split across the ranks, each computing every layer for its
            shard of the nodes in batches of ``inference_batch_size``, the shards
            all-gathered after each layer
            (:func:`gnnkit.train.inference.distributed_layerwise_inference`; memory per rank:
            one layer's output for all nodes plus one shard and one batch). The logits are
            those of ``"full"`` up to float rounding. The model must expose its layers
            (:class:`gnnkit.train.inference.LayerwiseModel`, as ``SAGE`` does).
        inference_batch_size: target nodes per block of the layer-wise inference (default
            ``batch_size``); only with ``inference="layerwise"``.

    Returns:
        the same :class:`~gnnkit.train.node_classification.NodeFitResult` on every rank; an
        epoch's ``loss`` is the mean training cross-entropy over all ranks' seeds.
    """
    rank, world_size = _rank_and_world()
    distributed = dist.is_available() and dist.is_initialized()
    batch_size = _check_batch_size(batch_size, world_size)
    _check_positive_int("epochs", epochs)
    # checked before any collective: every rank gets the same arguments, so all raise alike
    chunk = _layerwise_batch_size(model, inference, inference_batch_size, batch_size)
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not isinstance(graph, SparseMatrix):
        raise TypeError(f"graph must be a gnnkit SparseMatrix (N × N), got "
                        f"{type(graph).__name__}")
    if train_mask.dtype != torch.bool or train_mask.shape != (graph.num_rows,):
        raise ValueError(f"train_mask must be a bool tensor of shape ({graph.num_rows},), got "
                         f"{train_mask.dtype} {tuple(train_mask.shape)}")
    seeds = train_mask.nonzero().flatten().to(graph.device)
    num_seeds = seeds.numel()
    if distributed:
        _check_same_on_every_rank(num_seeds, "train_masks with different numbers of training "
                                 "nodes", "pass the same train_mask on every rank", x.device)
    if num_seeds < world_size:
        raise ValueError(f"train_mask has {num_seeds} training nodes, fewer than "
                         f"world_size={world_size}: every rank needs at least one seed")
    if seed is None and rank == 0:
        seed = int(torch.randint(0, 2**62, (1,)))
    seed = int(_broadcast(seed))
    if distributed:
        # each rank's dropout masks: its own reproducible stream (a spawned process's global
        # generator starts from a random seed)
        torch.manual_seed(int(torch.randint(0, 2**62, (1,),
                                            generator=sampling_generator(seed, 0, rank, -1))))
    loader = NeighborLoader(graph, seeds, fanouts, batch_size=batch_size // world_size,
                            shuffle=True, replace=replace, seed=seed,
                            shard=(rank, world_size), num_workers=num_workers)
    if optimizer is None:
        optim = make_optimizer(model, lr=lr, weight_decay=weight_decay,
                               weight_decay_scope=weight_decay_scope)
    else:
        optim = optimizer(model.parameters())
    net: torch.nn.Module = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model)
    eval_forward = None
    if chunk is not None:
        # the inner module, not the DDP wrapper: no gradient synchronisation in evaluation
        eval_forward = functools.partial(distributed_layerwise_inference, batch_size=chunk)
    run = _RunRecord(model, x, graph, y, val_mask, test_mask, stopping=stopping,
                     patience=patience, time_budget=time_budget,
                     keep_best_state=keep_best_state, log=log, eval_forward=eval_forward)
    for epoch in range(1, epochs + 1):
        model.train()
        tick = time.perf_counter()
        loader.set_epoch(epoch - 1)
        # Σ loss · seeds, Σ seeds of this rank's batches; DDP averages the gradients in backward
        total = torch.tensor(_train_sampled_epoch(net, optim, loader, x, y),
                             dtype=torch.float64)
        if distributed:
            if dist.get_backend() == "nccl":
                total = total.to(x.device)
            dist.all_reduce(total)
        train_seconds = time.perf_counter() - tick
        message: tuple[dict[str, float], bool] | None = None
        loss = total[0] / total[1].clamp(min=1)
        if rank == 0:
            # rank 0 evaluates and reads the budget's clock; every rank files the same numbers
            entry = run.entry(epoch, train_seconds, loss)
            message = (entry, run.over_budget())
        elif eval_forward is not None:
            # layer-wise: every rank takes part in the evaluation's all_gathers, in the same
            # order as rank 0; its own (identical) metrics are dropped for rank 0's broadcast
            run.entry(epoch, train_seconds, loss)
        entry, over_budget = _broadcast(message)
        if run.record(epoch, entry, epochs=epochs, over_budget=over_budget, log=rank == 0):
            break
    return run.result()


def _loopback_interface() -> str | None:
    """The name of the loopback interface (``lo`` on Linux, ``lo0`` on macOS), if found."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except (OSError, AttributeError):
        return None
    return next((name for name in ("lo", "lo0") if name in names), None)


#: seconds a rank whose collective failed because a peer went away waits before raising
_PEER_FAILURE_GRACE = 5.0


def _peer_failure(error: BaseException) -> bool:
    """Whether ``error`` is a collective failing because another rank closed its connection
    (gloo's "Connection closed by peer" / "Connection reset by peer")."""
    text = str(error)
    return isinstance(error, RuntimeError) and ("closed by peer" in text
                                                or "reset by peer" in text)


def _worker(rank: int, world_size: int, port: int, backend: str, threads: int | None,
            timeout: float, out_dir: str, model: torch.nn.Module, data: tuple[Any, ...],
            options: dict[str, Any]) -> None:
    """One spawned rank: join the group on 127.0.0.1, train, save the result to a file."""
    if backend == "gloo" and "GLOO_SOCKET_IFNAME" not in os.environ:
        interface = _loopback_interface()
        if interface is not None:
            os.environ["GLOO_SOCKET_IFNAME"] = interface
    if threads is not None:
        torch.set_num_threads(threads)
    dist.init_process_group(backend, init_method=f"tcp://{_LOOPBACK}:{port}", rank=rank,
                            world_size=world_size, timeout=timedelta(seconds=timeout))
    try:
        # the spawned arguments share the parent's memory: the replica needs its own weights
        model = copy.deepcopy(model)
        if backend == "nccl":
            torch.cuda.set_device(rank)
            device = torch.device("cuda", rank)
            model = model.to(device)
            data = tuple(None if item is None else item.to(device) for item in data)
        result = fit_rank(model, *data, **options)
        state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
        torch.save({"result": result, "state": state}, Path(out_dir) / f"rank{rank}.pt")
    except Exception as error:
        if _peer_failure(error):
            # a consequence, not the cause: let the rank that failed first exit first, so
            # spawn reports its error (spawn then stops this rank)
            time.sleep(_PEER_FAILURE_GRACE)
        raise
    finally:
        dist.destroy_process_group()


def fit_distributed(
    world_size: int,
    model: torch.nn.Module,
    x: Tensor,
    graph: SparseMatrix,
    y: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    test_mask: Tensor | None = None,
    *,
    fanouts: Sequence[int],
    batch_size: int,
    seed: int | None = None,
    backend: str | None = None,
    threads: int | None = None,
    timeout: float = 300.0,
    start_method: str = "spawn",
    inference: str = "full",
    inference_batch_size: int | None = None,
    **options: Any,
) -> DistributedFitResult:
    """Train ``model`` on ``world_size`` processes of this machine with DDP (module
    docstring) and load the trained weights into ``model``.

    Args:
        world_size: the number of processes (ranks), ``>= 1``.
        model, x, graph, y, train_mask, val_mask, test_mask: as in :func:`fit_rank` (shapes
            ``(N, F)``, ``N × N``, ``(N,)``); given to every rank (tensors through shared
            memory; each rank trains its own copy of ``model``).
        fanouts: neighbours per node at every hop (``-1`` = all).
        batch_size: seeds per optimisation step over all ranks (a multiple of
            ``world_size``); each rank takes ``batch_size / world_size``.
        seed: the shared seed of the shuffles and samples; ``None`` draws it here from torch's
            global generator (seed it for a reproducible run).
        backend: ``"gloo"`` (CPU) or ``"nccl"`` (one GPU per rank); ``None``:
            :func:`default_backend`.
        threads: ``torch.set_num_threads`` in every rank; ``None``: this process's thread
            count divided by ``world_size`` (at least 1), so the ranks do not oversubscribe
            the cores.
        timeout: seconds a collective may wait for the other ranks before it fails.
        start_method: ``"spawn"`` (fresh interpreters: each rank imports torch and gnnkit,
            seconds per rank, and receives the tensors through shared memory) or, on Linux,
            ``"fork"`` (the ranks start at once with this process's memory, copy-on-write;
            do not fork after CUDA has been initialised here, and prefer ``"spawn"`` when
            this process runs other threads).
        inference, inference_batch_size: how every epoch's evaluation runs, as in
            :func:`fit_rank` (``"layerwise"``: split across the ranks); checked here, before
            any process starts.
        options: the keyword arguments of :func:`fit_rank` (``lr``, ``epochs``, ``stopping``,
            ``optimizer``, …; callables must be picklable: module-level functions or
            ``functools.partial``). ``log`` runs in rank 0's process.

    Returns:
        rank 0's result with every rank's final weights
        (:attr:`DistributedFitResult.rank_states`).

    Raises:
        ValueError: a bad ``world_size``, ``batch_size``, ``backend``, ``start_method``,
            ``timeout``, ``inference`` or ``inference_batch_size``.
        TypeError: ``inference="layerwise"`` with a model that does not expose its layers.
        RuntimeError: ``torch.distributed`` or the backend is missing, or the ranks ended with
            different weights.
        torch.multiprocessing.ProcessRaisedException: a rank raised (its traceback included).
    """
    world_size = _check_positive_int("world_size", world_size)
    _check_batch_size(batch_size, world_size)
    _layerwise_batch_size(model, inference, inference_batch_size, batch_size)
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build; "
                           "use gnnkit.train.node_classification.fit_sampled in one process")
    if backend is None:
        backend = default_backend(world_size)
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' (CPU) or 'nccl' (GPU), got {backend!r}")
    if backend == "gloo" and not dist.is_gloo_available():
        raise RuntimeError("backend 'gloo' is not available in this torch build")
    if backend == "nccl" and (not dist.is_nccl_available()
                              or torch.cuda.device_count() < world_size):
        raise ValueError(f"backend 'nccl' needs NCCL and {world_size} GPUs (one per rank), "
                         f"found {torch.cuda.device_count()}; use backend='gloo'")
    if start_method not in torch.multiprocessing.get_all_start_methods():
        raise ValueError(f"start_method must be one of "
                         f"{torch.multiprocessing.get_all_start_methods()} on this platform, got "
                         f"{start_method!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if threads is None:
        threads = max(1, torch.get_num_threads() // world_size)
    else:
        threads = _check_positive_int("threads", threads)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)))
    options = {**options, "fanouts": list(fanouts), "batch_size": batch_size, "seed": seed,
               "inference": inference, "inference_batch_size": inference_batch_size}
    data = (x, graph, y, train_mask, val_mask, test_mask)
    with tempfile.TemporaryDirectory(prefix="gnnkit-ddp-") as out_dir:
        torch.multiprocessing.start_processes(
            # a copy: pickling for spawn would move the caller's parameters to shared memory
            _worker, args=(world_size, free_port(), backend, threads, timeout, out_dir,
                           copy.deepcopy(model), data, options),
            nprocs=world_size, join=True, start_method=start_method)
        outputs = [torch.load(Path(out_dir) / f"rank{rank}.pt", weights_only=False)
                   for rank in range(world_size)]
    states = [output["state"] for output in outputs]
    for rank, state in enumerate(states[1:], start=1):
        for key, value in state.items():
            if not torch.equal(value, states[0][key]):
                raise RuntimeError(f"rank {rank} ended with other weights than rank 0 "
                                   f"({key!r} differs): the replicas diverged")
    model.load_state_dict(states[0])
    first: NodeFitResult = outputs[0]["result"]
    values = {f.name: getattr(first, f.name) for f in fields(NodeFitResult)}
    return DistributedFitResult(**values, world_size=world_size, rank_states=states)
