"""The static HTML a job or sweep view leaves in a saved notebook.

Widgets need a live kernel; nbconvert, GitHub and a notebook reopened without one show the
output's ``text/html`` instead. So every view also carries this summary: the phase badge,
replicas, elapsed time, last metric values with an inline SVG sparkline each, and the failure
message. Plain HTML and inline SVG, no scripts, no external assets.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["PHASE_COLORS", "format_duration", "sparkline_svg", "summary_html"]

PHASE_COLORS = {
    "Pending": "#8d8d8d",
    "Creating": "#1e88e5",
    "Running": "#2e7d32",
    "Degraded": "#ef6c00",
    "Deleting": "#6d6d6d",
    "Succeeded": "#1b5e20",
    "Failed": "#c62828",
}


def _parse_ts(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0 or math.isnan(seconds):
        return ""
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def elapsed_seconds(start: str | None, end: str | None) -> float | None:
    begin = _parse_ts(start)
    if begin is None:
        return None
    finish = _parse_ts(end) or datetime.now(UTC)
    return (finish - begin).total_seconds()


def _fmt(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def sparkline_svg(values: Sequence[float], width: int = 120, height: int = 24,
                  color: str = "#1e88e5") -> str:
    """A polyline of ``values`` scaled into a ``width`` x ``height`` box (inline SVG)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return f'<svg width="{width}" height="{height}"></svg>'
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    n = len(finite)
    pad = 2
    points = " ".join(
        f"{pad + (i * (width - 2 * pad) / max(n - 1, 1)):.1f},"
        f"{pad + (height - 2 * pad) * (1 - (v - lo) / span):.1f}"
        for i, v in enumerate(finite)
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" class="hanzo-ml-sparkline">'
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>'
            f"</svg>")


def _badge(phase: str) -> str:
    color = PHASE_COLORS.get(phase, "#8d8d8d")
    return (f'<span style="background:{color};color:#fff;border-radius:10px;padding:1px 8px;'
            f'font-size:12px;font-weight:600">{html.escape(phase or "Unknown")}</span>')


def summary_html(view: Mapping[str, Any]) -> str:
    """The summary of a job view (the widget's trait values, or the same keys)."""
    if view.get("kind") == "Sweep":
        return _sweep_html(view)
    esc = html.escape
    name = esc(str(view.get("name", "")))
    phase = str(view.get("phase") or "")
    parts = [f'<div class="hanzo-ml-summary" data-hanzo-ml-kind="TrainingJob" '
             f'data-hanzo-ml-name="{name}" style="font-family:sans-serif;font-size:13px;'
             f'border:1px solid #ddd;border-radius:6px;padding:8px;max-width:720px">',
             f"<div><b>TrainingJob {name}</b> {_badge(phase)}"]
    ready, total = int(view.get("workers_ready") or 0), int(view.get("workers_total") or 0)
    parts.append(f" &middot; replicas {ready}/{total}")
    took = format_duration(elapsed_seconds(view.get("start_time"), view.get("completion_time")))
    if took:
        parts.append(f" &middot; {'took' if view.get('completion_time') else 'elapsed'} {took}")
    if view.get("experiment"):
        parts.append(f" &middot; experiment {esc(str(view['experiment']))}")
    parts.append("</div>")
    total_steps, step = int(view.get("progress_total") or 0), int(view.get("progress_step") or 0)
    if total_steps:
        parts.append(f"<div>progress {min(step, total_steps)}/{total_steps}</div>")
    elif step:
        parts.append(f"<div>steps seen {step}</div>")
    if view.get("message"):
        parts.append(f'<div style="color:#c62828">{esc(str(view["message"]))}</div>')
    metrics: Mapping[str, Any] = view.get("metrics") or {}
    if metrics:
        parts.append('<table style="border-collapse:collapse;margin-top:4px">'
                     "<tr><th align=left>metric</th><th align=right>last</th>"
                     "<th align=right>points</th><th></th></tr>")
        for key in sorted(metrics):
            series = metrics[key] or {}
            values = list(series.get("values") or [])
            last = _fmt(values[-1]) if values else ""
            count = series.get("count", len(values))
            parts.append(f"<tr><td>{esc(key)}</td><td align=right>{last}</td>"
                         f"<td align=right>{count}</td>"
                         f"<td style='padding-left:8px'>{sparkline_svg(values)}</td></tr>")
        parts.append("</table>")
    logs: Sequence[Sequence[str]] = view.get("logs") or []
    if logs:
        tail = "\n".join(str(line[1]) for line in list(logs)[-5:])
        parts.append(f'<pre style="margin:4px 0 0;font-size:11px;max-height:8em;overflow:auto">'
                     f"{esc(tail)}</pre>")
    parts.append("</div>")
    return "".join(parts)


def _sweep_html(view: Mapping[str, Any]) -> str:
    esc = html.escape
    sweep: Mapping[str, Any] = view.get("sweep") or {}
    objective = sweep.get("objective") or {}
    phase = str(view.get("phase") or "")
    best = sweep.get("bestTrial") or {}
    parts = [f'<div class="hanzo-ml-summary" data-hanzo-ml-kind="Sweep" '
             f'data-hanzo-ml-name="{esc(str(view.get("name", "")))}" '
             f'style="font-family:sans-serif;font-size:13px;border:1px solid #ddd;'
             f'border-radius:6px;padding:8px;max-width:720px">',
             f"<div><b>Sweep {esc(str(view.get('name', '')))}</b> "
             f"{_badge(phase or 'Pending')} &middot; {esc(str(sweep.get('algorithm', '')))} "
             f"&middot; {esc(str(objective.get('goal', '')))} "
             f"{esc(str(objective.get('metric', '')))}</div>",
             f"<div>trials: {sweep.get('trialsCompleted', 0)} completed, "
             f"{sweep.get('trialsRunning', 0)} running, {sweep.get('trialsFailed', 0)} failed "
             f"of {sweep.get('maxTrials', 0)}</div>"]
    if best:
        parts.append(f"<div>best: {esc(str(best.get('name', '')))} = "
                     f"{esc(str(best.get('value', '')))}</div>")
    if not phase:
        parts.append("<div style='color:#8d8d8d'>waiting for the sweep controller</div>")
    parts.append("</div>")
    return "".join(parts)
