"""Start and stop the controller engine beside the embedded API (same process, same store)."""

from __future__ import annotations

from fastapi import FastAPI

from hanzo_ml_lab.server.auth import mint_token

__all__ = ["start_controller", "stop_controller"]


async def start_controller(app: FastAPI) -> None:
    # imported here: the API alone (``--no-controller``, tests) never loads the controller
    from hanzo_ml_lab.controller.manager import build_engine
    from hanzo_ml_lab.runtime import LocalRuntime

    settings = app.state.settings

    def access_env(namespace: str) -> dict[str, str]:
        org = namespace.removeprefix("tenant-")
        token = mint_token(settings.signing_key, subject=f"job@{namespace}", orgs=[org])
        return {"HANZO_ML_API": f"http://{_url_host(settings.host)}:{settings.port}",
                "HANZO_ML_TOKEN": token, "HANZO_ML_ORG": org}

    runtime = LocalRuntime(settings.home / "runtime")
    engine = build_engine(app.state.store, home=settings.home, access_env=access_env,
                          runtime=runtime, tracking=app.state.tracking)
    app.state.runtime = runtime
    app.state.engine = engine
    engine.start()


async def stop_controller(app: FastAPI) -> None:
    engine = getattr(app.state, "engine", None)
    if engine is not None:
        engine.stop()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
