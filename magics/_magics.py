"""``%%ml_train``, ``%%ml_sweep``, ``%ml_jobs``, ``%ml_attach``, ``%ml_logs``, ``%ml_cancel``.

Each magic parses its options (declared with ``magic_arguments``, so ``%%ml_train?`` is its
manual), calls ``api``, and reports problems as a short message on stderr: a usage error
names the option and repeats the usage line; an API error names the field and the rule the
control plane gave. No traceback either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from hanzo_ml_lab.api.errors import AlreadyExists, ApiError
from hanzo_ml_lab.client import ControlPlaneUnreachable

from . import api
from ._args import (
    job_shape_arguments,
    parse_line,
    phase_name,
    positive_int,
    sweep_param,
    usage_of,
)
from ._spec import InvalidArgument
from ._state import TERMINAL_PHASES

__all__ = ["MLMagics"]


def _say(text: str) -> None:
    print(text, file=sys.stderr)


@magics_class
class MLMagics(Magics):
    """The hanzo-ml notebook magics (``%load_ext hanzo_ml_lab``)."""

    # -- error reporting -----------------------------------------------------------------

    def _guard(self, magic: str, func: Any, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except (UsageError, InvalidArgument) as e:
            _say(f"{magic}: {_clean(str(e))}")
            usage = usage_of(func)
            if usage:
                _say(usage)
            _say(f"See {magic}? for every option.")
        except ApiError as e:
            _say(f"{magic}: {e.message}")
            for cause in e.causes:
                if cause.field and f"{cause.field}:" not in e.message:
                    _say(f"  {cause.field}: {cause.message}")
            if isinstance(e, AlreadyExists) and e.name:
                _say(f"Choose another --name, or show that one with %ml_attach {e.name}.")
        except ControlPlaneUnreachable as e:
            _say(f"{magic}: {e}")
        except SystemExit:  # -h printed the help
            pass
        return None

    # -- %%ml_train ----------------------------------------------------------------------

    @magic_arguments("%ml_train")
    @argument("--name", default=None,
              help="Job name (a DNS-1123 label); default: a readable unique one.")
    @argument("--experiment", default=None,
              help="Experiment the job's run is tracked in (default: 'default').")
    @argument("--wait", action="store_true",
              help="Block until the job finished (the live view still updates).")
    @job_shape_arguments()
    @line_cell_magic
    def ml_train(self, line: str, cell: str | None = None) -> None:
        """Run this cell as a TrainingJob on the control plane and show it live.

        The cell body becomes the job's script (``spec.script``), run as ``python <script>``
        in every replica; it reads ``--param`` values with ``ml.params()`` and logs with
        ``ml.log_metric``. The cell returns at once with a live view (phase, replicas,
        progress, a chart per metric, logs, Cancel) that keeps updating after the cell
        finished. The job carries the notebook's path and the cell's SHA-256 as annotations.

        Example::

            %%ml_train --name mnist --workers 2 --experiment mnist --param lr=0.01
            import hanzo_ml_lab as ml
            for epoch in range(5):
                ml.log_metric("loss", 1 / (epoch + 1), step=epoch)
        """
        self._guard("%%ml_train", self.ml_train, lambda: self._train(line, cell))

    def _train(self, line: str, cell: str | None) -> None:
        args = parse_line(self.ml_train, line)
        if cell is None:
            raise InvalidArgument("%%ml_train is a cell magic: write it as the first line of a "
                                  "cell, with the training code below it")
        if not cell.strip():
            raise InvalidArgument("the cell is empty: write the training code below the "
                                  "%%ml_train line")
        handle = api.train(
            cell, name=args.name, framework=args.framework, workers=args.workers,
            master=args.master, ps=args.ps, cpu=args.cpu, memory=args.memory, gpu=args.gpu,
            image=args.image, params=dict(args.param) or None, env=list(args.env) or None,
            experiment=args.experiment, backend=args.backend, show=True, wait=False,
            client=api.get_client())
        if args.wait:
            self._wait(handle)

    def _wait(self, handle: api.Job) -> None:
        try:
            phase = handle.wait()
        except KeyboardInterrupt:
            _say(f"stopped waiting; TrainingJob {handle.name} keeps running "
                 f"(%ml_cancel {handle.name} stops it)")
            return
        status = handle.status
        if phase == "Succeeded":
            print(f"TrainingJob {handle.name} Succeeded")
        else:
            reason = status.get("failureReason") or ""
            message = status.get("failureMessage") or ""
            _say(f"TrainingJob {handle.name} {phase}"
                 + (f": {reason}" if reason else "") + (f": {message}" if message else ""))

    # -- %%ml_sweep ----------------------------------------------------------------------

    @magic_arguments("%ml_sweep")
    @argument("--name", default=None, help="Sweep name; default: a readable unique one.")
    @argument("--experiment", default=None,
              help="Experiment the trials are tracked in (default: the sweep's name).")
    @argument("--algorithm", default="bayesian", choices=("bayesian", "grid", "random"),
              help="Search algorithm: bayesian (Optuna TPE), grid or random.")
    @argument("--max-trials", type=positive_int, default=10, metavar="N",
              help="How many trials to run at most (default 10).")
    @argument("--parallelism", type=positive_int, default=1, metavar="N",
              help="Trials running at once (default 1).")
    @argument("--objective", default=None, metavar="METRIC",
              help="The metric that ranks trials (required), e.g. val_acc.")
    @argument("--goal", default="maximize", choices=("maximize", "minimize"),
              help="Whether a larger or smaller objective is better (default maximize).")
    @argument("--param", type=sweep_param, action="append", default=[],
              metavar="NAME:TYPE:SPEC",
              help="A search dimension; repeatable. lr:log_uniform:1e-5,1e-2 · "
                   "dropout:uniform:0,0.5[,step] · layers:int:1,4[,step] · "
                   "bs:choice:32,64,128")
    @job_shape_arguments(params=False)
    @line_cell_magic
    def ml_sweep(self, line: str, cell: str | None = None) -> None:
        """Create a hyperparameter Sweep whose trials run this cell.

        Each trial is a TrainingJob from this cell with a parameter assignment the code reads
        with ``ml.params()``, and reports the objective with ``ml.log_metric``. The sweep
        controller lands in a later release: today the Sweep is recorded (and validated) and
        shown with its status; its trials do not start yet.

        Example::

            %%ml_sweep --objective val_acc --max-trials 20 --param lr:log_uniform:1e-5,1e-2
            import hanzo_ml_lab as ml
            lr = ml.params()["lr"]
            ml.log_metric("val_acc", 1 - lr)
        """
        self._guard("%%ml_sweep", self.ml_sweep, lambda: self._sweep(line, cell))

    def _sweep(self, line: str, cell: str | None) -> None:
        args = parse_line(self.ml_sweep, line)
        if cell is None:
            raise InvalidArgument("%%ml_sweep is a cell magic: write it as the first line of a "
                                  "cell, with the trial's code below it")
        if not cell.strip():
            raise InvalidArgument("the cell is empty: write the trial's code below the "
                                  "%%ml_sweep line")
        if not args.objective:
            raise InvalidArgument("--objective is required: the metric that ranks trials "
                                  "(e.g. --objective val_acc)")
        if not args.param:
            raise InvalidArgument("at least one --param name:type:spec is required "
                                  "(e.g. --param lr:log_uniform:1e-5,1e-2)")
        api.sweep(cell, parameters=list(args.param), objective=args.objective, goal=args.goal,
                  name=args.name, experiment=args.experiment, algorithm=args.algorithm,
                  max_trials=args.max_trials, parallelism=args.parallelism,
                  framework=args.framework, workers=args.workers, master=args.master,
                  ps=args.ps, cpu=args.cpu, memory=args.memory, gpu=args.gpu,
                  image=args.image, env=list(args.env) or None, backend=args.backend,
                  show=True, client=api.get_client())

    # -- %ml_jobs ------------------------------------------------------------------------

    @magic_arguments()
    @argument("--experiment", default=None, help="Only jobs of this experiment.")
    @argument("--phase", type=phase_name, default=None,
              help="Only jobs in this phase (Pending, Running, Succeeded, Failed, ...).")
    @argument("--limit", type=positive_int, default=None, metavar="N",
              help="At most N jobs, newest first.")
    @line_magic
    def ml_jobs(self, line: str) -> Any:
        """TrainingJobs as a DataFrame, newest first: name, framework, phase, workers
        (ready/total), experiment, started, duration."""
        def work() -> Any:
            args = parse_line(self.ml_jobs, line)
            return api.jobs(experiment=args.experiment, phase=args.phase, limit=args.limit,
                            client=api.get_client())

        return self._guard("%ml_jobs", self.ml_jobs, work)

    # -- %ml_attach ----------------------------------------------------------------------

    @magic_arguments()
    @argument("name", help="The TrainingJob (or Sweep) to show.")
    @line_magic
    def ml_attach(self, line: str) -> None:
        """Show the live view of an existing job, with its full history: every metric point
        from the start and the log tail. Use it after a kernel restart, or in another
        notebook; the job kept running meanwhile."""
        def work() -> None:
            args = parse_line(self.ml_attach, line)
            api.attach(args.name, client=api.get_client())

        self._guard("%ml_attach", self.ml_attach, work)

    # -- %ml_logs ------------------------------------------------------------------------

    @magic_arguments()
    @argument("name", help="The TrainingJob.")
    @argument("--follow", "-f", action="store_true",
              help="Keep printing as output arrives, until the job ended (interrupt the "
                   "kernel to stop following; the job keeps running).")
    @argument("--replica", default=None, help="One replica, e.g. worker-0 (default: all).")
    @argument("--tail", type=positive_int, default=None, metavar="N",
              help="Start with the last N lines of each replica.")
    @line_magic
    def ml_logs(self, line: str) -> None:
        """Print a TrainingJob's output (every replica, lines prefixed with the replica when
        there are several)."""
        def work() -> None:
            args = parse_line(self.ml_logs, line)
            handle = api.job(args.name, client=api.get_client())
            if not args.follow:
                text = handle.logs(replica=args.replica, tail=args.tail)
                sys.stdout.write(str(text))
                sys.stdout.flush()
                return
            chunks = handle.logs(follow=True, replica=args.replica, tail=args.tail)
            assert not isinstance(chunks, str)
            try:
                for text in chunks:
                    sys.stdout.write(text)
                    sys.stdout.flush()
            except KeyboardInterrupt:
                _say(f"\n(stopped following; TrainingJob {handle.name} keeps running)")
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

        self._guard("%ml_logs", self.ml_logs, work)

    # -- %ml_cancel ----------------------------------------------------------------------

    @magic_arguments()
    @argument("name", help="The TrainingJob to cancel.")
    @line_magic
    def ml_cancel(self, line: str) -> None:
        """Cancel a TrainingJob: every replica gets SIGTERM, then SIGKILL; it ends Failed
        with reason Cancelled."""
        def work() -> None:
            args = parse_line(self.ml_cancel, line)
            handle = api.job(args.name, client=api.get_client())
            phase = handle.phase
            if phase in TERMINAL_PHASES:
                print(f"TrainingJob {handle.name} already {phase}; nothing to cancel")
                return
            handle.cancel()
            print(f"cancelling TrainingJob {handle.name}")

        self._guard("%ml_cancel", self.ml_cancel, work)


def _clean(message: str) -> str:
    return message.removeprefix("UsageError: ").strip()
