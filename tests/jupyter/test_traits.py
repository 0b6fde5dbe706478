"""``HanzoMLExtension`` configuration: defaults from the environment, and clear refusals."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from hanzo_ml_lab.jupyter.app import HanzoMLExtension


def test_defaults_come_from_the_hanzo_ml_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANZO_ML_API", "https://ml.example.com/")
    monkeypatch.setenv("HANZO_ML_TOKEN", "tok")
    monkeypatch.setenv("HANZO_ML_TOKEN_FILE", "/run/secrets/token")
    monkeypatch.setenv("HANZO_ML_ORG", "acme")
    monkeypatch.setenv("HANZO_ML_HOME", "/srv/hanzo")
    ext = HanzoMLExtension()
    assert (ext.api_url, ext.token, ext.token_file, ext.org, ext.home) == (
        "https://ml.example.com", "tok", "/run/secrets/token", "acme", "/srv/hanzo")
    assert ext.start_embedded is True


def test_without_environment_the_embedded_plane_and_org_default_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("HANZO_ML_API", "HANZO_ML_TOKEN", "HANZO_ML_TOKEN_FILE", "HANZO_ML_ORG"):
        monkeypatch.delenv(var, raising=False)
    ext = HanzoMLExtension()
    assert (ext.api_url, ext.org) == ("", "default")


@pytest.mark.parametrize(("value", "rule"), [
    ("ftp://ml.example.com", r"must be an http\(s\) URL"),
    ("ml.example.com:8787", r"must be an http\(s\) URL"),
    ("https://user:secret@ml.example.com", "must not carry credentials"),
    ("https://ml.example.com/?x=1", "must have no query"),
])
def test_a_bad_api_url_is_refused_naming_the_rule(value: str, rule: str) -> None:
    with pytest.raises(TraitError, match=rf"HanzoMLExtension\.api_url: {rule}"):
        HanzoMLExtension(api_url=value)


def test_an_org_that_is_no_dns_label_is_refused() -> None:
    with pytest.raises(TraitError, match=r"HanzoMLExtension\.org: X-Org-Id"):
        HanzoMLExtension(org="Acme Corp")
