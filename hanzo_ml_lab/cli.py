"""``hanzo-ml``: serve the embedded control plane and manage resources, kubectl-style.

hanzo-ml serve                       # control plane on 127.0.0.1:8787
hanzo-ml apply -f job.yaml           # create or update (several documents allowed)
hanzo-ml get mlj                     # kinds, plurals and short names all work
hanzo-ml get trainingjob mnist -o yaml
hanzo-ml describe mlj mnist
hanzo-ml delete mlj mnist
hanzo-ml crds --out controller/crds
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from hanzo_ml_lab.api import KINDS, resolve_kind
from hanzo_ml_lab.api.errors import ApiError
from hanzo_ml_lab.client import Client, ControlPlaneUnreachable

__all__ = ["main"]


class UsageError(Exception):
    """A mistake in the command line or its input file; printed without a traceback."""


# -- input --------------------------------------------------------------------------------
def load_documents(source: str, stdin: TextIO | None = None) -> list[dict[str, Any]]:
    """Objects from a YAML/JSON file (``-`` for stdin); several ``---`` documents or a List."""
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text()
    except OSError as e:
        raise UsageError(f"-f {source}: cannot read ({e.strerror})") from e
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise UsageError(f"-f {source}: not valid YAML or JSON: {e}") from e
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("items"), list)
            and str(doc.get("kind", "")).endswith("List")
        ):
            out.extend(doc["items"])
        elif isinstance(doc, dict):
            out.append(doc)
        else:
            raise UsageError(f"-f {source}: document {i + 1} is not an object")
    if not out:
        raise UsageError(f"-f {source}: no objects found")
    return out


def _org_of(obj: dict[str, Any]) -> str | None:
    ns = (obj.get("metadata") or {}).get("namespace") or ""
    return ns[len("tenant-") :] if ns.startswith("tenant-") else None


# -- output -------------------------------------------------------------------------------
def _jsonpath(obj: Any, path: str) -> Any:
    cur = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = datetime.strptime(ts.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    secs = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "<none>"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def render_table(kind: str, items: list[dict[str, Any]], *, wide: bool = False) -> str:
    cls = KINDS[kind]
    cols = [(n, p) for n, p, _t in cls.printer_columns if n.upper() != "AGE"]
    if not wide:
        cols = cols[:4]
    headers = ["NAME", *(n.upper() for n, _ in cols), "AGE"]
    rows = [
        [
            it["metadata"]["name"],
            *(_cell(_jsonpath(it, p)) for _, p in cols),
            _age(it["metadata"].get("creationTimestamp")),
        ]
        for it in items
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    return "\n".join(lines)


def describe_text(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    out = [
        f"Name:         {meta.get('name')}",
        f"Namespace:    {meta.get('namespace')}",
        f"Kind:         {obj.get('kind')}",
        f"Created:      {meta.get('creationTimestamp')}",
        f"Generation:   {meta.get('generation')}",
    ]
    for key in ("labels", "annotations"):
        vals = meta.get(key) or {}
        out.append(
            f"{key.capitalize() + ':':<14}"
            + (", ".join(f"{k}={v}" for k, v in vals.items()) or "<none>")
        )
    status = obj.get("status") or {}
    out.append(f"Phase:        {status.get('phase', '<none>')}")
    out.append("Spec:")
    out.extend(
        "  " + line
        for line in yaml.safe_dump(obj.get("spec", {}), sort_keys=False).rstrip().splitlines()
    )
    rest = {k: v for k, v in status.items() if k not in ("phase", "conditions")}
    if rest:
        out.append("Status:")
        out.extend(
            "  " + line for line in yaml.safe_dump(rest, sort_keys=False).rstrip().splitlines()
        )
    conds = status.get("conditions") or []
    out.append("Conditions:")
    if not conds:
        out.append("  <none>")
    else:
        out.append(f"  {'TYPE':<10} {'STATUS':<8} {'REASON':<22} MESSAGE")
        for c in conds:
            out.append(
                f"  {c.get('type', ''):<10} {c.get('status', ''):<8} "
                f"{c.get('reason', ''):<22} {c.get('message', '')}"
            )
    return "\n".join(out)


def _dump(objs: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(objs, indent=2)
    return yaml.safe_dump(objs, sort_keys=False).rstrip()


# -- commands -----------------------------------------------------------------------------
def _client(args: argparse.Namespace, org: str | None = None) -> Client:
    return Client(args.server, token=args.token, org=org or args.org)


def cmd_serve(args: argparse.Namespace) -> int:
    from hanzo_ml_lab.server.embedded import serve

    serve(
        Path(args.home) if args.home else None,
        host=args.host,
        port=args.port,
        run_controller=not args.no_controller,
        spool_watch_interval=args.spool_watch,
    )
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    objs = load_documents(args.filename)
    failed = 0
    clients: dict[str | None, Client] = {}
    try:
        for obj in objs:
            org = args.org or _org_of(obj)
            client = clients.get(org) or clients.setdefault(org, _client(args, org))
            kind = obj.get("kind", "?")
            name = (obj.get("metadata") or {}).get("name", "?")
            try:
                kind_cls = resolve_kind(str(kind))
                outcome, _ = client.apply(obj)
                print(f"{kind_cls.__name__.lower()}/{name} {outcome}")
            except ApiError as e:
                failed += 1
                print(f"error: {kind}/{name}: {e.message}", file=sys.stderr)
    finally:
        for c in clients.values():
            c.close()
    return 1 if failed else 0


def cmd_get(args: argparse.Namespace) -> int:
    kind = resolve_kind(args.kind).__name__
    with _client(args) as client:
        if args.name:
            obj = client.get(kind, args.name)
            if args.output in ("json", "yaml"):
                print(_dump(obj, args.output))
            else:
                print(render_table(kind, [obj], wide=args.output == "wide"))
            return 0
        items = client.list_all(kind, label_selector=args.selector)
        if args.output in ("json", "yaml"):
            print(
                _dump(
                    {"apiVersion": "hanzo.ai/v1", "kind": f"{kind}List", "items": items},
                    args.output,
                )
            )
        elif not items:
            print(f"No {KINDS[kind].plural} found in {client.namespace}.", file=sys.stderr)
        else:
            print(render_table(kind, items, wide=args.output == "wide"))
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    kind = resolve_kind(args.kind).__name__
    with _client(args) as client:
        names = [args.name] if args.name else [i["metadata"]["name"] for i in client.list_all(kind)]
        print("\n\n".join(describe_text(client.get(kind, n)) for n in names))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    targets: list[tuple[str, str, str | None]] = []
    if args.filename:
        for obj in load_documents(args.filename):
            targets.append(
                (
                    resolve_kind(str(obj.get("kind", ""))).__name__,
                    str((obj.get("metadata") or {}).get("name", "")),
                    _org_of(obj),
                )
            )
    elif args.kind and args.names:
        kind = resolve_kind(args.kind).__name__
        targets = [(kind, n, None) for n in args.names]
    else:
        raise UsageError("delete: give KIND NAME... or -f FILE")
    failed = 0
    for kind, name, org in targets:
        with _client(args, org) as client:
            try:
                left = client.delete(kind, name)
                pending = left.get("kind") == kind
                print(
                    f"{kind.lower()}/{name} "
                    + ("deletion pending (finalizers)" if pending else "deleted")
                )
            except ApiError as e:
                failed += 1
                print(f"error: {kind}/{name}: {e.message}", file=sys.stderr)
    return 1 if failed else 0


def cmd_crds(args: argparse.Namespace) -> int:
    from hanzo_ml_lab.api.crds import write_crds

    written = write_crds(Path(args.out))
    for path in written:
        print(path)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from hanzo_ml_lab.env import home_dir
    from hanzo_ml_lab.server.auth import ensure_credentials, mint_token

    home = Path(args.home) if args.home else home_dir()
    creds = ensure_credentials(home)
    print(mint_token(creds.key, subject=args.subject, orgs=args.orgs, ttl_seconds=args.ttl_seconds))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hanzo-ml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--server",
        help="control plane URL (default: $HANZO_ML_API or the embedded server in $HANZO_ML_HOME)",
    )
    p.add_argument("--token", help="bearer token (default: $HANZO_ML_TOKEN or the token file)")
    p.add_argument("--org", help="org, sent as X-Org-Id (default: $HANZO_ML_ORG or 'default')")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the embedded control plane")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8787)
    s.add_argument("--home", help="state directory (default $HANZO_ML_HOME or ~/.hanzo-ml)")
    s.add_argument("--no-controller", action="store_true", help="API only; run no reconcilers")
    s.add_argument("--spool-watch", type=float, default=0.01, metavar="SECONDS",
                   help="scan running jobs' metric spools this often and ingest what they "
                        "wrote without waiting for HTTP (default 0.01; 0: off)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("apply", help="create or update objects from a file")
    s.add_argument("-f", "--filename", required=True, help="YAML/JSON file, or - for stdin")
    s.set_defaults(func=cmd_apply)

    s = sub.add_parser("get", help="list objects of a kind, or show one")
    s.add_argument("kind", help="kind, plural or short name (e.g. mlj)")
    s.add_argument("name", nargs="?")
    s.add_argument("-o", "--output", choices=["table", "wide", "yaml", "json"], default="table")
    s.add_argument("-l", "--selector", help="label selector, e.g. team=vision")
    s.set_defaults(func=cmd_get)

    s = sub.add_parser("describe", help="show one object (or all of a kind) in detail")
    s.add_argument("kind")
    s.add_argument("name", nargs="?")
    s.set_defaults(func=cmd_describe)

    s = sub.add_parser("delete", help="delete objects")
    s.add_argument("kind", nargs="?")
    s.add_argument("names", nargs="*")
    s.add_argument("-f", "--filename")
    s.set_defaults(func=cmd_delete)

    s = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the models")
    s.add_argument("--out", default="controller/crds")
    s.set_defaults(func=cmd_crds)

    s = sub.add_parser("token", help="mint a bearer token signed by this home's key")
    s.add_argument("--orgs", nargs="+", required=True, help="orgs the token is valid for")
    s.add_argument("--subject", default="user")
    s.add_argument("--ttl-seconds", type=int, default=None)
    s.add_argument("--home")
    s.set_defaults(func=cmd_token)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ApiError as e:
        print(f"error: {e.message}", file=sys.stderr)
        for c in e.causes:
            if c.field and c.field not in e.message:
                print(f"  {c.field}: {c.message}", file=sys.stderr)
        return 1
    except ControlPlaneUnreachable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
