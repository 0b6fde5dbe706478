"""From notebook arguments to wire-form TrainingJob and Sweep objects (no I/O here).

The server validates every field and answers with a Status naming the field and the rule, so
this module only checks what the server cannot see: the backend, and arguments that never
reach the wire (an empty cell).
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "ANNOTATION_CELL",
    "ANNOTATION_NOTEBOOK",
    "BACKENDS",
    "InvalidArgument",
    "build_sweep",
    "build_training_job",
    "job_spec",
    "replica_names",
    "script_source",
]

ANNOTATION_NOTEBOOK = "hanzo.ai/notebook-path"
ANNOTATION_CELL = "hanzo.ai/cell-sha256"
BACKENDS = ("local",)


class InvalidArgument(ValueError):
    """An argument of ``train``/``%%ml_train`` breaks a rule; the message names it."""


def script_source(script: str | Callable[..., Any] | None) -> str | None:
    """A script as text. A function becomes its source followed by a call to it, so
    ``ml.train(main)`` runs ``main()`` in the job (it must not need arguments)."""
    if script is None or isinstance(script, str):
        return script
    if callable(script):
        try:
            source = textwrap.dedent(inspect.getsource(script))
        except (OSError, TypeError) as e:
            raise InvalidArgument(
                f"script: cannot read the source of {script!r} ({e}); pass the code as a "
                "string") from None
        name = getattr(script, "__name__", "")
        if not name.isidentifier():
            raise InvalidArgument("script: a lambda has no name to call; define a function")
        return f"{source}\n\nif __name__ == '__main__':\n    {name}()\n"
    raise InvalidArgument(f"script: must be Python source or a function, got {type(script)!r}")


def _resources(cpu: str | None, memory: str | None, gpu: int | None) -> dict[str, Any]:
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = str(cpu)
    if memory is not None:
        requests["memory"] = str(memory)
    if gpu:
        requests["nvidia.com/gpu"] = str(gpu)
    return {"requests": requests} if requests else {}


def _check_int(field: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{field}: must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        rule = f">= {low}" if high is None else f"between {low} and {high}"
        raise InvalidArgument(f"{field}: must be {rule}, got {value}")
    return value


def job_spec(
    script: str | None,
    *,
    framework: str = "pytorch",
    workers: int = 1,
    master: int = 0,
    ps: int = 0,
    cpu: str | None = None,
    memory: str | None = None,
    gpu: int | None = None,
    image: str | None = None,
    command: list[str] | None = None,
    params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    experiment: str | None = None,
    backend: str = "local",
) -> dict[str, Any]:
    """A TrainingJob ``spec`` in wire form."""
    if backend not in BACKENDS:
        raise InvalidArgument(
            f"backend {backend} is not available yet: only 'local' (Kubernetes comes later)")
    _check_int("workers", workers, 1)
    _check_int("master", master, 0, 1)
    _check_int("ps", ps, 0)
    if gpu is not None:
        _check_int("gpu", gpu, 0)
    if script is not None and not script.strip():
        raise InvalidArgument("script: the cell is empty; write the training code below the "
                              "magic line")
    if script is None and not command and not image:
        raise InvalidArgument("script: give the code to run (a script, a command or an image)")
    spec: dict[str, Any] = {"framework": framework,
                            "workers": {"replicas": workers}}
    resources = _resources(cpu, memory, gpu)
    if resources:
        spec["workers"]["resources"] = resources
    if master:
        spec["master"] = {"replicas": master}
    if ps:
        spec["parameterServer"] = {"replicas": ps}
    if image is not None:
        spec["image"] = image
    if command:
        spec["command"] = list(command)
    if script is not None:
        spec["script"] = script
    if params:
        spec["params"] = dict(params)
    if env:
        pairs = env.items() if isinstance(env, Mapping) else env
        spec["env"] = [{"name": str(k), "value": str(v)} for k, v in pairs]
    if experiment:
        spec["experiment"] = {"name": experiment}
    return spec


def build_training_job(name: str, spec: dict[str, Any], *,
                       annotations: Mapping[str, str] | None = None,
                       labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = dict(annotations)
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "hanzo.ai/v1", "kind": "TrainingJob", "metadata": meta, "spec": spec}


def build_sweep(
    name: str,
    template: dict[str, Any],
    *,
    experiment: str,
    objective: str,
    goal: str = "maximize",
    algorithm: str = "bayesian",
    max_trials: int = 10,
    parallelism: int = 1,
    parameters: list[dict[str, Any]],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Sweep whose trials run ``template`` (a TrainingJob spec) with sampled params."""
    if not parameters:
        raise InvalidArgument("param: a sweep needs at least one --param name:type:spec")
    if not objective:
        raise InvalidArgument("objective: name the metric to optimise (--objective val_acc)")
    _check_int("max_trials", max_trials, 1)
    _check_int("parallelism", parallelism, 1)
    # the template's own experiment is the sweep's; trials get params from the sweep
    template = {k: v for k, v in template.items() if k not in ("experiment", "params")}
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "hanzo.ai/v1", "kind": "Sweep", "metadata": meta,
            "spec": {"experiment": experiment, "algorithm": algorithm,
                     "maxTrials": max_trials, "parallelism": parallelism,
                     "objective": {"metric": objective, "goal": goal},
                     "parameters": parameters, "template": template}}


def replica_names(spec: Mapping[str, Any]) -> list[str]:
    """``master-0``, ``worker-0..n``, ``ps-0..m``: the names logs are keyed by (the same order
    as the controller's topology, which kernel-side code must not import)."""
    names: list[str] = []
    master = spec.get("master") or {}
    names += [f"master-{i}" for i in range(int(master.get("replicas", 0) or 0))]
    workers = spec.get("workers") or {}
    names += [f"worker-{i}" for i in range(int(workers.get("replicas", 1) or 1))]
    ps = spec.get("parameterServer") or {}
    names += [f"ps-{i}" for i in range(int(ps.get("replicas", 0) or 0))]
    return names
