"""Start and stop the controller engine beside the embedded API (same process, same store)."""

from __future__ import annotations

from fastapi import FastAPI

from hanzo_ml_lab.server.auth import mint_token

__all__ = ["start_controller", "stop_controller"]


async def start_controller(app: FastAPI) -> None:
    # imported here: the API alone (``--no-controller``, tests) never loads the controller
    from hanzo_ml_lab.controller.manager import build_engine
    from hanzo_ml_lab.controller.spoolwatch import SpoolWatcher
    from hanzo_ml_lab.runtime import LocalRuntime
    from hanzo_ml_lab.server.routes.tracking import experiment_limit

    settings = app.state.settings
    store, limiter = app.state.store, app.state.metric_limiter

    def access_env(namespace: str) -> dict[str, str]:
        org = namespace.removeprefix("tenant-")
        token = mint_token(settings.signing_key, subject=f"job@{namespace}", orgs=[org])
        return {"HANZO_ML_API": f"http://{_url_host(settings.host)}:{settings.port}",
                "HANZO_ML_TOKEN": token, "HANZO_ML_ORG": org}

    def admit(namespace: str, experiment: str | None, points: int) -> None:
        # the same bucket as POST /runs/{run}/log: the fast path never bypasses the limit
        limiter.admit(namespace, experiment, points,
                      lambda: experiment_limit(store, namespace, experiment))

    # the job's processes share this filesystem: take their spooled batches as they appear
    spool_watch = None
    if settings.spool_watch_interval > 0:
        spool_watch = SpoolWatcher(app.state.tracking, admit=admit,
                                   interval=settings.spool_watch_interval)
    runtime = LocalRuntime(settings.home / "runtime")
    engine = build_engine(store, home=settings.home, access_env=access_env,
                          runtime=runtime, tracking=app.state.tracking, spool_watch=spool_watch)
    app.state.runtime = runtime
    app.state.engine = engine
    app.state.spool_watch = spool_watch
    if spool_watch is not None:
        spool_watch.start()
    engine.start()


async def stop_controller(app: FastAPI) -> None:
    engine = getattr(app.state, "engine", None)
    if engine is not None:
        engine.stop()
    spool_watch = getattr(app.state, "spool_watch", None)
    if spool_watch is not None:
        spool_watch.stop()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
