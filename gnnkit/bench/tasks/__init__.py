"""Benchmark tasks as plug-ins: the registry of :class:`~gnnkit.bench.tasks.base.Task` objects.

An experiment file's ``task = "…"`` picks the task here; the experiment parser asks it to
validate its sections and the runner asks it to load data and run seeds. Adding a task is
writing one module with a :class:`Task` subclass and registering an instance with
:func:`register_task` (below, or from user code before loading experiment files) — no other
task and no runner code changes.
"""

from __future__ import annotations

from .base import RunContext, RunResult, Task, TaskRun
from .expressivity import ExpressivityTask
from .graph_classification import GraphClassificationTask
from .graph_property import GraphPropertyTask
from .link_prediction import LinkPredictionTask
from .node_classification import NodeClassificationTask
from .recommendation import RecommendationTask

__all__ = [
    "TASKS",
    "RunContext",
    "RunResult",
    "Task",
    "TaskRun",
    "get_task",
    "register_task",
    "task_names",
]

#: ``task`` name → task; extend with :func:`register_task`
TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Make ``task`` available to experiment files as ``task = "<task.name>"``."""
    if not getattr(task, "name", None):
        raise ValueError(f"{type(task).__name__} has no name")
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is already registered "
                         f"({type(TASKS[task.name]).__name__})")
    TASKS[task.name] = task
    return task


def task_names() -> tuple[str, ...]:
    """The registered task names, in registration order."""
    return tuple(TASKS)


def get_task(name: str) -> Task:
    """The task called ``name`` (``KeyError`` listing the registered ones otherwise)."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; registered: {list(TASKS)}") from None


register_task(NodeClassificationTask())
register_task(LinkPredictionTask())
register_task(ExpressivityTask())
register_task(GraphClassificationTask())
register_task(GraphPropertyTask())
register_task(RecommendationTask())
