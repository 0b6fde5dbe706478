"""The magics' option grammar, declared with IPython's ``magic_arguments``.

Declaring options this way gives ``%%ml_train?`` and ``%ml_sweep?`` their help for free and
turns bad input into an ``UsageError`` naming the option. The value parsers below raise
``argparse.ArgumentTypeError`` with the rule and the offending value, so the message reads
``argument --workers: must be a whole number >= 1, got 'abc'`` instead of argparse's
``invalid positive_int value``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, argument_group

from hanzo_ml_lab.api._types import QUANTITY_PATTERN

__all__ = [
    "PHASES",
    "SWEEP_PARAM_TYPES",
    "env_pair",
    "job_shape_arguments",
    "param_pair",
    "parse_line",
    "parse_value",
    "phase_name",
    "positive_int",
    "quantity",
    "sweep_param",
    "usage_of",
    "zero_or_more",
    "zero_or_one",
]

F = TypeVar("F", bound=Callable[..., Any])

PHASES = ("Pending", "Creating", "Running", "Degraded", "Deleting", "Succeeded", "Failed")
SWEEP_PARAM_TYPES = ("log_uniform", "uniform", "int", "choice")
_QUANTITY = re.compile(QUANTITY_PATTERN)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


# -- value parsers (argparse ``type=`` callables) -------------------------------------------

def _whole(text: str, rule: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number {rule}, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _whole(text, ">= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def zero_or_more(text: str) -> int:
    value = _whole(text, ">= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def zero_or_one(text: str) -> int:
    if text.strip() not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"must be 0 or 1 (a job has at most one master), "
                                         f"got {text!r}")
    return int(text)


def quantity(text: str) -> str:
    if not _QUANTITY.match(text.strip()):
        raise argparse.ArgumentTypeError(
            f"must be a quantity such as 2, 500m, 4Gi or 512Mi, got {text!r}")
    return text.strip()


def parse_value(text: str) -> Any:
    """A ``--param`` value as the Python value it looks like.

    ``3`` → 3, ``0.1``/``1e-3`` → float, ``true``/``False`` → bool, ``null`` → None,
    ``[1, 2]``/``{"a": 1}``/``"quoted"`` → JSON; anything else stays the string it is.
    """
    stripped = text.strip()
    if stripped in ("True", "TRUE"):
        return True
    if stripped in ("False", "FALSE"):
        return False
    try:
        value = json.loads(stripped)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # NaN/Infinity: keep what the user wrote rather than a value JSON refuses
    return value


def param_pair(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be key=value (e.g. lr=0.01), got {text!r}")
    return key.strip(), parse_value(raw)


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE (e.g. OMP_NUM_THREADS=4), "
                                         f"got {text!r}")
    if not _ENV_NAME.match(key):
        raise argparse.ArgumentTypeError(
            f"{key!r} is not an environment variable name (letters, digits, '_', '-', '.', "
            "not starting with a digit)")
    return key, value


def phase_name(text: str) -> str:
    for phase in PHASES:
        if phase.lower() == text.strip().lower():
            return phase
    raise argparse.ArgumentTypeError(f"must be one of {', '.join(PHASES)}, got {text!r}")


def _number(text: str, what: str, spec: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r} in {spec!r}"
                                         ) from None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value


def sweep_param(text: str) -> dict[str, Any]:
    """``name:type:spec`` → a Sweep ``parameters`` item.

    ``lr:log_uniform:1e-5,1e-2`` and ``dropout:uniform:0,0.5[,step]`` give min, max (and step);
    ``layers:int:1,4[,step]`` gives whole-number bounds; ``bs:choice:32,64,128`` lists values.
    """
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
        raise argparse.ArgumentTypeError(
            "must be name:type:spec (e.g. lr:log_uniform:1e-5,1e-2 or bs:choice:32,64), "
            f"got {text!r}")
    name, kind, spec = (p.strip() for p in parts)
    if kind not in SWEEP_PARAM_TYPES:
        raise argparse.ArgumentTypeError(
            f"type must be one of {', '.join(SWEEP_PARAM_TYPES)}, got {kind!r} in {text!r}")
    items = [s.strip() for s in spec.split(",")]
    if kind == "choice":
        if any(not s for s in items):
            raise argparse.ArgumentTypeError(f"choice values must not be empty, got {text!r}")
        return {"name": name, "type": kind, "values": [parse_value(s) for s in items]}
    allowed = "min,max" if kind == "log_uniform" else "min,max[,step]"
    if len(items) not in ((2,) if kind == "log_uniform" else (2, 3)):
        raise argparse.ArgumentTypeError(
            f"{kind} needs {allowed} (e.g. {name}:{kind}:"
            f"{'1e-5,1e-2' if kind == 'log_uniform' else '1,4'}), got {spec!r}")
    out: dict[str, Any] = {"name": name, "type": kind,
                           "min": _number(items[0], "min", text),
                           "max": _number(items[1], "max", text)}
    if len(items) == 3:
        out["step"] = _number(items[2], "step", text)
    return out


# -- shared declarations ----------------------------------------------------------------------

def job_shape_arguments(*, params: bool = True) -> Callable[[F], F]:
    """The options that shape a TrainingJob: ``%%ml_train``'s, and the trial template's of
    ``%%ml_sweep`` (without ``--param``, which a sweep uses for its search space)."""
    decorators = [
        argument_group("job", "What runs, and on how many replicas"),
        argument("--framework", default="pytorch",
                 help="tensorflow, pytorch, mpi, xgboost, jax, candle or hanzo-ml "
                      "(default: pytorch); picks the replica topology and its env."),
        argument("--workers", type=positive_int, default=1, metavar="N",
                 help="Worker replicas (default 1)."),
        argument("--master", type=zero_or_one, default=0, metavar="N",
                 help="Master (rank-0 coordinator) replicas: 0 or 1 (default 0)."),
        argument("--ps", type=zero_or_more, default=0, metavar="N",
                 help="Parameter-server replicas (TensorFlow), default 0."),
        argument("--cpu", type=quantity, default=None,
                 help="CPU request per worker, e.g. 2 or 500m."),
        argument("--memory", type=quantity, default=None,
                 help="Memory request per worker, e.g. 4Gi."),
        argument("--gpu", type=zero_or_more, default=None, metavar="N",
                 help="GPUs per worker (requests nvidia.com/gpu)."),
        argument("--image", default=None,
                 help="Container image (used on a cluster; the local backend runs the cell)."),
    ]
    if params:
        decorators.append(
            argument("--param", type=param_pair, action="append", default=[],
                     metavar="KEY=VALUE",
                     help="A parameter the code reads with ml.params(); repeatable. Values "
                          "that look like numbers, booleans or JSON become those."))
    decorators += [
        argument("--env", type=env_pair, action="append", default=[], metavar="KEY=VALUE",
                 help="An environment variable of every replica; repeatable."),
        argument("--backend", default="local",
                 help="Where to run: 'local' (processes beside the control plane). "
                      "Kubernetes comes later."),
    ]

    def apply(func: F) -> F:
        for decorate in reversed(decorators):
            func = decorate(func)
        return func

    return apply


def parse_line(func: Any, line: str) -> argparse.Namespace:
    """Parse a magic's option line with shell quoting (``--param 'cfg={"a": 1}'`` gives the
    value without its quotes, as in a terminal; IPython's own splitter keeps them)."""
    try:
        argv = shlex.split(line, posix=True)
    except ValueError as e:
        raise UsageError(f"cannot split the options: {e} (check the quotes)") from None
    return func.parser.parse_args(argv)  # type: ignore[no-any-return]


def usage_of(func: Any) -> str:
    """The usage lines of a magic declared with ``magic_arguments`` (``usage: %%ml_train ...``).

    IPython formats usage as reStructuredText (a ``::`` block); on stderr plain text reads
    better.
    """
    parser = getattr(func, "parser", None)
    if parser is None:
        return ""
    text = str(parser.format_usage()).strip()
    text = text.removeprefix("::").strip("\n")
    return "usage: " + textwrap.dedent(text).strip()
