"""The proxy's path rules, without a server: what may reach the upstream, and what is refused."""

from __future__ import annotations

import pytest

from hanzo_ml_lab.api.errors import BadRequest, NotFound
from hanzo_ml_lab.jupyter._paths import is_stream_query, normalize_query, upstream_path


@pytest.mark.parametrize(("raw", "expected"), [
    ("v1/ml/jobs", "/v1/ml/jobs"),
    ("v1/ml/jobs/", "/v1/ml/jobs"),
    ("v1/ml/jobs/mnist/logs", "/v1/ml/jobs/mnist/logs"),
    ("v1/ml/inference/clf:predict", "/v1/ml/inference/clf:predict"),
    ("v1/ml/inference/clf%3Apredict", "/v1/ml/inference/clf:predict"),
    ("v1/ml/models/m.v2", "/v1/ml/models/m.v2"),
])
def test_paths_under_v1_ml_are_forwarded_as_checked(raw: str, expected: str) -> None:
    assert upstream_path(raw) == expected


@pytest.mark.parametrize("raw", [
    "v1/ml/../../healthz",
    "v1/ml/jobs/..",
    "v1/ml/./jobs",
    "v1/ml/%2e%2e/healthz",
    "v1/ml/%2E%2E/%2E%2E/healthz",
    "v1/ml/jobs%2F..%2F..%2Fhealthz",
    "v1/ml/jobs%2f..",
    "v1/ml/jobs%5C..%5Chealthz",
    "v1/ml/jobs%5c..",
    "v1/ml/jobs\\..\\healthz",
    "v1/ml/jobs%252e%252e",
    "v1/ml//jobs",
    "//evil.com/v1/ml/jobs",
    "v1/ml/http://127.0.0.1:1/x",
    "v1/ml/https:",
    "v1/ml/jobs/x@127.0.0.1:1",
    "v1/ml/jobs/%40evil",
    "v1/ml/jobs/%0d%0aHost:evil",
    "v1/ml/jobs/a%zz",
    "v1/ml/jobs/na me",
    "http://127.0.0.1:1/x",
])
def test_paths_that_try_to_escape_are_bad_requests(raw: str) -> None:
    with pytest.raises(BadRequest, match="path: "):
        upstream_path(raw)


@pytest.mark.parametrize("raw", ["", "v1", "v1/ml", "v1/mlx", "v1/mlx/jobs", "v2/ml/jobs",
                                 "healthz", "docs", "openapi.json", "evil.com/v1/ml/jobs"])
def test_paths_outside_v1_ml_are_not_found(raw: str) -> None:
    with pytest.raises(NotFound, match="outside /v1/ml/"):
        upstream_path(raw)


def test_query_is_re_encoded_and_streams_are_recognised() -> None:
    assert normalize_query("labelSelector=team%3Dvision&watch=true") == \
        "labelSelector=team%3Dvision&watch=true"
    assert normalize_query("a=1#frag") == "a=1%23frag"
    assert is_stream_query("watch=true") and is_stream_query("follow=1")
    assert not is_stream_query("watch=false") and not is_stream_query("")
