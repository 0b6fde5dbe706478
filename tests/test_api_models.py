"""The hanzo.ai/v1 models: HIP-109's examples parse; every bad input names its field and rule."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import hanzo_ml_lab.api as api
from hanzo_ml_lab.api import (
    KINDS,
    TrainingJob,
    foreign_vfs_uris,
    kind_info,
    parse_object,
    parse_vfs_uri,
    resolve_kind,
    tenant_namespace,
)
from hanzo_ml_lab.api.errors import BadRequest, Invalid

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))
LIFECYCLE = ("Pending", "Creating", "Running", "Degraded", "Deleting")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())


def job(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"framework": "pytorch", "command": ["python", "train.py"]}
    body.update(spec)
    return {"apiVersion": "hanzo.ai/v1", "kind": "TrainingJob",
            "metadata": {"name": "x", "namespace": "tenant-acme"}, "spec": body}


def invalid(obj: dict[str, Any], **kw: Any) -> Invalid:
    with pytest.raises(Invalid) as info:
        parse_object(obj, **kw)
    return info.value


def causes(err: Invalid) -> dict[str, str]:
    return {c.field: c.message for c in err.causes}


def sweep(parameters: list[dict[str, Any]], algorithm: str = "random") -> dict[str, Any]:
    obj = load("sweep-lr-sweep-q2.yaml")
    obj["spec"]["parameters"] = parameters
    obj["spec"]["algorithm"] = algorithm
    return obj


def pipeline(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "Pipeline", "metadata": {"name": "p"}, "spec": {"steps": steps}}


# --- examples and wire form ------------------------------------------------------------------


def test_examples_cover_all_twelve_kinds() -> None:
    kinds = {yaml.safe_load(f.read_text())["kind"] for f in EXAMPLE_FILES}
    assert kinds == set(KINDS)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[f.stem for f in EXAMPLE_FILES])
def test_every_example_parses(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    obj = parse_object(raw)
    assert type(obj) is KINDS[raw["kind"]]
    assert obj.metadata.namespace == "tenant-acme"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[f.stem for f in EXAMPLE_FILES])
def test_wire_form_round_trips(path: Path) -> None:
    first = parse_object(yaml.safe_load(path.read_text()))
    wire = first.to_wire()
    second = parse_object(copy.deepcopy(wire))
    assert second == first
    assert second.to_wire() == wire


def test_wire_form_is_camel_case_with_hip_spellings() -> None:
    wire = parse_object(load("trainingjob-imagenet-finetune.yaml")).to_wire()
    assert wire["spec"]["ttlSecondsAfterFinished"] == 86400
    assert wire["spec"]["parameterServer"]["replicas"] == 1
    assert wire["spec"]["workers"]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    inference = parse_object(load("inference-resnet50-prod.yaml")).to_wire()
    assert inference["spec"]["autoscaling"]["targetGPUUtilization"] == 70
    status = {"phase": "Succeeded", "artifactURI": "vfs://tenant-acme/runs/x/v1"}
    done = parse_object({**job(), "status": status})
    assert done.to_wire()["status"]["artifactURI"] == "vfs://tenant-acme/runs/x/v1"


def test_wire_form_fills_defaults_and_leaves_out_empty_collections() -> None:
    wire = parse_object(load("trainingjob-imagenet-finetune.yaml")).to_wire()
    assert wire["spec"]["restartPolicy"] == "Never" and wire["spec"]["backoffLimit"] == 0
    assert wire["spec"]["parameterServer"] == {"replicas": 1}
    assert "limits" not in wire["spec"]["workers"]["resources"]
    steps = parse_object(load("pipeline-train-eval-deploy.yaml")).to_wire()["spec"]["steps"]
    assert steps[0] == {"name": "prep", "type": "container", "image": "ghcr.io/acme/prep:v1"}


def test_sweep_bounds_written_as_yaml_1e_5_are_numbers() -> None:
    obj = parse_object(load("sweep-lr-sweep-q2.yaml"))
    lr = obj.spec.parameters[0]  # type: ignore[attr-defined]
    assert (lr.min, lr.max) == (1e-5, 1e-2)
    assert obj.spec.parameters[1].values == [32, 64, 128]  # type: ignore[attr-defined]


def test_kind_argument_is_used_when_the_object_has_none() -> None:
    raw = load("experiment-acme-finetune-2026q2.yaml")
    del raw["kind"], raw["apiVersion"]
    obj = parse_object(raw, kind="experiments")
    assert obj.kind == "Experiment" and obj.api_version == "hanzo.ai/v1"


# --- errors name the field and the rule --------------------------------------------------------


def test_unknown_field_is_refused_with_its_path() -> None:
    obj = job(workers={"replicas": 2, "replica": 3})
    err = invalid(obj)
    assert causes(err) == {"spec.workers.replica": "unknown field (extra fields not permitted)"}


def test_wrong_type_names_field_and_expected_type() -> None:
    err = invalid(job(workers={"replicas": "four"}))
    assert causes(err) == {"spec.workers.replicas": "must be an integer, got 'four'"}
    err = invalid(job(env=[{"name": "A", "value": True}]))
    assert causes(err) == {"spec.env[0].value": "must be a string, got true"}


@pytest.mark.parametrize(
    ("name", "needle"),
    [("ImageNet", "lowercase RFC 1123 label"), ("a" * 64, "no more than 63 characters")],
)
def test_invalid_name_is_reported_at_metadata_name(name: str, needle: str) -> None:
    obj = job()
    obj["metadata"]["name"] = name
    err = invalid(obj)
    assert list(causes(err)) == ["metadata.name"]
    assert needle in causes(err)["metadata.name"]


def test_zero_worker_replicas_names_field_and_rule() -> None:
    err = invalid(job(workers={"replicas": 0}))
    assert err.message == 'TrainingJob "x" is invalid: spec.workers.replicas: must be >= 1, got 0'
    assert err.causes[0].field == "spec.workers.replicas"
    assert err.code == 422 and err.kind == "TrainingJob" and err.name == "x"
    status = err.to_status()
    assert status["details"]["causes"][0]["field"] == "spec.workers.replicas"


def test_master_is_at_most_one() -> None:
    err = invalid(job(master={"replicas": 2}))
    assert causes(err) == {"spec.master.replicas": "must be <= 1, got 2"}


def test_unknown_framework_lists_the_allowed_values() -> None:
    err = invalid(job(framework="keras"))
    message = causes(err)["spec.framework"]
    assert message == (
        "must be one of tensorflow, pytorch, mpi, xgboost, jax, candle, hanzo-ml; got 'keras'"
    )
    assert err.causes[0].reason == "FieldValueNotSupported"


def test_empty_command_is_refused() -> None:
    assert causes(invalid(job(command=[]))) == {"spec.command": "must not be empty"}
    assert causes(invalid(job(command=["", "train.py"])))["spec.command[0]"].startswith(
        "must not be empty"
    )


def test_command_script_or_image_is_required() -> None:
    obj = job()
    del obj["spec"]["command"]
    assert "one of command or script is required" in causes(invalid(obj))["spec.command"]
    obj["spec"]["script"] = "print('hi')"
    assert parse_object(obj).spec.command is None  # type: ignore[attr-defined]


def test_backoff_limit_needs_restart_policy_on_failure() -> None:
    err = invalid(job(backoffLimit=2))
    assert "must be 0 when restartPolicy is Never" in causes(err)["spec.backoffLimit"]
    ok = parse_object(job(backoffLimit=2, restartPolicy="OnFailure"))
    assert ok.spec.backoff_limit == 2  # type: ignore[attr-defined]


def test_duplicate_env_names_are_refused() -> None:
    err = invalid(job(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]))
    assert "duplicate name 'A'" in causes(err)["spec.env[1].name"]


def test_bad_quantity_and_vfs_uri_name_their_fields() -> None:
    err = invalid(job(workers={"resources": {"requests": {"cpu": "lots"}}},
                      artifacts={"output": "s3://bucket/x"}))
    found = causes(err)
    assert "Kubernetes quantity" in found["spec.workers.resources.requests[cpu]"]
    assert "vfs://<namespace>/<path>" in found["spec.artifacts.output"]


def test_quantities_written_as_numbers_become_strings() -> None:
    obj = parse_object(job(workers={"resources": {"requests": {"cpu": 8}}}))
    assert obj.spec.workers.resources.requests == {"cpu": "8"}  # type: ignore[attr-defined]


def test_status_phase_must_be_one_the_kind_reports() -> None:
    err = invalid({**job(), "status": {"phase": "Available"}})
    assert "must be one of Pending, Creating, Running" in causes(err)["status.phase"]
    notebook = load("notebook-alice-dev.yaml")
    assert parse_object({**notebook, "status": {"phase": "Stopped"}}).status.phase == "Stopped"


def test_missing_required_field_says_field_required() -> None:
    obj = job()
    del obj["spec"]["framework"]
    err = invalid(obj)
    assert causes(err) == {"spec.framework": "field required"}
    assert err.causes[0].reason == "FieldValueRequired"


def test_wrong_api_version_is_invalid() -> None:
    err = invalid({**job(), "apiVersion": "kubeflow.org/v1"})
    assert "hanzo.ai/v1" in causes(err)["apiVersion"]


# --- sweeps --------------------------------------------------------------------------------


def test_log_uniform_needs_positive_min_below_max() -> None:
    err = invalid(sweep([{"name": "lr", "type": "log_uniform", "min": 0, "max": 1}]))
    assert causes(err) == {"spec.parameters[0].min": "must be > 0 for type log_uniform, got 0"}
    err = invalid(sweep([{"name": "lr", "type": "log_uniform", "min": 0.1, "max": 0.01}]))
    assert "must be greater than min" in causes(err)["spec.parameters[0].max"]


def test_uniform_and_int_need_min_below_max() -> None:
    err = invalid(sweep([{"name": "d", "type": "uniform", "min": 0.5, "max": 0.5},
                         {"name": "n", "type": "int", "min": 1.5, "max": 4}]))
    found = causes(err)
    assert "must be greater than min (0.5)" in found["spec.parameters[0].max"]
    assert "whole number" in found["spec.parameters[1].min"]


def test_choice_needs_values_and_names_are_unique() -> None:
    err = invalid(sweep([{"name": "bs", "type": "choice", "values": []},
                         {"name": "bs", "type": "choice", "values": [1]}]))
    found = causes(err)
    assert "at least one value" in found["spec.parameters[0].values"]
    err = invalid(sweep([{"name": "bs", "type": "choice", "values": [1]},
                         {"name": "bs", "type": "choice", "values": [2]}]))
    assert "duplicate name 'bs'" in causes(err)["spec.parameters[1].name"]


def test_grid_search_needs_finite_parameters() -> None:
    err = invalid(sweep([{"name": "lr", "type": "uniform", "min": 0, "max": 1}], "grid"))
    assert "grid search needs a finite set" in causes(err)["spec.parameters[0]"]
    parse_object(sweep([{"name": "lr", "type": "uniform", "min": 0, "max": 1, "step": 0.25}],
                       "grid"))


def test_max_trials_must_be_positive() -> None:
    obj = load("sweep-lr-sweep-q2.yaml")
    obj["spec"]["maxTrials"] = 0
    assert causes(invalid(obj)) == {"spec.maxTrials": "must be >= 1, got 0"}


# --- pipelines -----------------------------------------------------------------------------


def test_pipeline_cycle_names_the_step_that_closes_it() -> None:
    err = invalid(pipeline([
        {"name": "a", "type": "container", "image": "x", "dependsOn": ["c"]},
        {"name": "b", "type": "container", "image": "x", "dependsOn": ["a"]},
        {"name": "c", "type": "container", "image": "x", "dependsOn": ["b"]},
    ]))
    # Walking from the first step: a needs c, c needs b, and b's dependsOn closes the loop.
    found = causes(err)
    assert list(found) == ["spec.steps[1].dependsOn"]
    assert "dependency cycle" in found["spec.steps[1].dependsOn"]
    assert "a -> c -> b -> a" in found["spec.steps[1].dependsOn"]


def test_pipeline_unknown_depends_on_and_duplicate_names() -> None:
    err = invalid(pipeline([
        {"name": "a", "type": "container", "image": "x"},
        {"name": "a", "type": "container", "image": "x", "dependsOn": ["zzz"]},
    ]))
    found = causes(err)
    assert "duplicate step name 'a'" in found["spec.steps[1].name"]
    assert "unknown step 'zzz'" in found["spec.steps[1].dependsOn"]


def test_pipeline_template_is_checked_as_its_kind() -> None:
    err = invalid(pipeline([
        {"name": "t", "type": "trainingjob",
         "template": {"framework": "pytorch", "image": "x", "workers": {"replicas": 0}}},
        {"name": "d", "type": "inference",
         "template": {"model": {"name": "m"}, "autoscaling": {"minReplicas": 3,
                                                             "maxReplicas": 2}}},
    ]))
    assert causes(err) == {
        "spec.steps[0].template.workers.replicas": "must be >= 1, got 0",
        "spec.steps[1].template.autoscaling.minReplicas": "must be <= maxReplicas (2), got 3",
    }
    obj = parse_object(load("pipeline-train-eval-deploy.yaml"))
    assert isinstance(obj.spec.steps[1].template, api.TrainingJobSpec)  # type: ignore[attr-defined]
    assert isinstance(obj.spec.steps[3].template, api.InferenceSpec)  # type: ignore[attr-defined]


def test_pipeline_step_fields_must_fit_the_step_type() -> None:
    err = invalid(pipeline([
        {"name": "a", "type": "container",
         "template": {"framework": "pytorch", "image": "x"}},
        {"name": "b", "type": "trainingjob"},
    ]))
    found = causes(err)
    assert "not allowed for type container" in found["spec.steps[0].template"]
    assert "one of image or command" in found["spec.steps[0].image"]
    assert found["spec.steps[1].template"] == "field required for type trainingjob"


def test_pipeline_topological_order_follows_dependencies() -> None:
    obj = parse_object(pipeline([
        {"name": "c", "type": "container", "image": "x", "dependsOn": ["b"]},
        {"name": "a", "type": "container", "image": "x"},
        {"name": "b", "type": "container", "image": "x", "dependsOn": ["a"]},
    ]))
    assert obj.spec.topological_order() == ["a", "b", "c"]  # type: ignore[attr-defined]


# --- inference, model, tracking ------------------------------------------------------------


def test_inference_autoscaling_min_above_max_is_refused() -> None:
    obj = load("inference-resnet50-prod.yaml")
    obj["spec"]["autoscaling"]["minReplicas"] = 20
    assert causes(invalid(obj)) == {
        "spec.autoscaling.minReplicas": "must be <= maxReplicas (10), got 20"
    }


def test_external_inference_needs_an_image() -> None:
    obj = load("inference-resnet50-prod.yaml")
    obj["spec"]["runtime"] = "external"
    assert "field required for runtime external" in causes(invalid(obj))["spec.image"]
    obj["spec"]["image"] = "ghcr.io/acme/triton:v1"
    parse_object(obj)


def test_model_aliases_must_point_at_versions_and_latest_is_reserved() -> None:
    obj = load("model-acme-resnet50.yaml")
    obj["spec"]["aliases"] = {"champion": "v9", "latest": "v1"}
    found = causes(invalid(obj))
    assert "unknown version 'v9'" in found["spec.aliases[champion]"]
    assert "'latest' is reserved" in found["spec.aliases[latest]"]
    obj["spec"]["aliases"] = {"champion": "v1"}
    model = parse_object(obj)
    assert model.spec.resolve_version("champion").name == "v1"  # type: ignore[attr-defined]
    assert model.spec.resolve_version("latest").name == "v2"  # type: ignore[attr-defined]


def test_model_version_timestamps_must_be_real() -> None:
    obj = load("model-acme-resnet50.yaml")
    obj["spec"]["versions"][0]["createdAt"] = "2026-05-01T...Z"
    assert "RFC 3339" in causes(invalid(obj))["spec.versions[0].createdAt"]


def test_run_params_are_strings_and_keys_follow_mlflow_rules() -> None:
    obj = load("run-imagenet-finetune-r12.yaml")
    obj["spec"]["params"] = {"lr": 0.1, "layers": 4}
    assert parse_object(obj).spec.params == {"lr": "0.1", "layers": "4"}  # type: ignore[attr-defined]
    obj["spec"]["params"] = {"bad key!": "x"}
    assert causes(invalid(obj))["spec.params[bad key!]"].startswith("key may contain only")


def test_run_source_needs_a_name_unless_adhoc() -> None:
    obj = load("run-imagenet-finetune-r12.yaml")
    obj["spec"]["source"] = {"kind": "Sweep"}
    assert causes(invalid(obj)) == {"spec.source.name": "field required for kind Sweep"}


def test_artifact_digest_must_be_sha256() -> None:
    obj = load("artifact-acme-resnet50-v2-weights.yaml")
    obj["spec"]["digest"] = "md5:abc"
    assert "sha256" in causes(invalid(obj))["spec.digest"]


def test_java_spark_job_needs_a_main_class() -> None:
    obj = load("sparkjob-spark-pi.yaml")
    obj["spec"]["type"] = "Scala"
    assert causes(invalid(obj)) == {"spec.mainClass": "field required for type Scala"}


# --- registry ------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["TrainingJob", "trainingjob", "TRAININGJOB", "trainingjobs",
                                   "mlj"])
def test_resolve_kind_by_kind_plural_or_short_name(alias: str) -> None:
    assert resolve_kind(alias) is TrainingJob


def test_resolve_kind_knows_every_kind_by_every_name() -> None:
    for name, cls in KINDS.items():
        assert resolve_kind(name) is cls
        assert resolve_kind(cls.plural) is cls
        for short in cls.short_names:
            assert resolve_kind(short) is cls


def test_unknown_kind_is_a_bad_request_listing_the_kinds() -> None:
    with pytest.raises(BadRequest) as info:
        resolve_kind("TFJob")
    assert "TrainingJob (trainingjobs, mlj)" in info.value.message
    assert "Artifact" in info.value.message
    with pytest.raises(BadRequest):
        parse_object({"kind": "TFJob", "spec": {}})


def test_parse_object_refuses_what_is_not_an_object() -> None:
    with pytest.raises(BadRequest):
        parse_object(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(BadRequest):
        parse_object({"spec": {}})
    with pytest.raises(BadRequest):
        parse_object(job(), kind="experiments")


def test_every_kind_declares_its_names_phases_and_columns() -> None:
    assert len(KINDS) == 12
    for name, cls in KINDS.items():
        info = kind_info(cls)
        assert info.kind == name and info.plural.endswith("s") and info.short_names
        assert info.phases[:5] == LIFECYCLE
        assert ("Succeeded" in info.phases and "Failed" in info.phases) or not info.finishes
        assert info.printer_columns[-1] == ("Age", ".metadata.creationTimestamp", "date")
    assert {n for n, c in KINDS.items() if c.finishes} == {"TrainingJob", "Sweep", "SparkJob",
                                                          "Run"}
    assert "Available" in KINDS["Model"].phases and "Available" in KINDS["ModelVersion"].phases
    assert "Stopped" in KINDS["Notebook"].phases


def test_hip_short_names() -> None:
    expected = {"TrainingJob": "mlj", "Experiment": "mlx", "Sweep": "mls", "Pipeline": "mlp",
                "Notebook": "mln", "Model": "mlm", "Inference": "mli"}
    for kind, short in expected.items():
        assert short in KINDS[kind].short_names


def test_public_names_are_all_exported() -> None:
    for name in api.__all__:
        assert hasattr(api, name), name
    for cls in KINDS.values():
        assert cls.__name__ in api.__all__
    assert set(api.__all__) <= set(dir(api))
    with pytest.raises(AttributeError):
        api.NoSuchKind  # noqa: B018


def test_the_light_modules_import_without_the_models() -> None:
    """The SDK in a job needs errors, routes, tenancy and vfs: none of them loads pydantic."""
    code = (
        "import sys\n"
        "import hanzo_ml_lab.api as api\n"
        "from hanzo_ml_lab.api import errors, routes, tenancy, vfs\n"
        "from hanzo_ml_lab.api import parse_vfs_uri, tenant_namespace\n"
        "assert 'pydantic' not in sys.modules, 'pydantic'\n"
        "assert parse_vfs_uri('vfs://tenant-a/x/y') == ('tenant-a', 'x/y')\n"
        "assert tenant_namespace('a') == 'tenant-a'\n"
        "from hanzo_ml_lab.api import TrainingJob\n"
        "assert 'pydantic' in sys.modules and 'hanzo_ml_lab.api.sweep' not in sys.modules\n"
        "assert api.KINDS['TrainingJob'] is TrainingJob\n"
        "ns = {}\n"
        "exec('from hanzo_ml_lab.api import *', ns)\n"
        "assert set(api.__all__) <= set(ns)\n"
        "assert vfs.VfsUri is not None and 'VfsUri' in dir(vfs)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# --- tenancy and vfs -----------------------------------------------------------------------


def test_tenant_namespace_maps_org_and_names_the_header() -> None:
    assert tenant_namespace("acme") == "tenant-acme"
    with pytest.raises(Invalid) as info:
        tenant_namespace("Acme Corp")
    assert info.value.causes[0].field == "X-Org-Id"
    with pytest.raises(Invalid):
        tenant_namespace("a" * 57)


def test_vfs_uri_parses_to_namespace_and_path() -> None:
    assert parse_vfs_uri("vfs://tenant-acme/runs/x/v1") == ("tenant-acme", "runs/x/v1")
    assert parse_vfs_uri("vfs://tenant-other/models/m/") == ("tenant-other", "models/m/")


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("vfs://tenant-acme/runs/../../tenant-other/x", "'..'"),
        ("vfs://tenant-acme/./x", "'.' segments"),
        ("vfs://tenant-acme//x", "empty segments"),
        ("vfs://tenant-acme", "must have a path"),
        ("vfs://Tenant/x", "lowercase RFC 1123"),
        ("s3://bucket/x", "vfs://<namespace>/<path>"),
    ],
)
def test_vfs_uri_refuses_unsafe_or_malformed_forms(uri: str, needle: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_vfs_uri(uri)
    assert needle in str(info.value)


def test_foreign_vfs_uris_finds_other_tenants_paths_anywhere_in_spec() -> None:
    obj = job(artifacts={"output": "vfs://tenant-other/runs/x"},
              params={"data": "vfs://tenant-other/datasets/imagenet"})
    found = {c.field: c.reason for c in foreign_vfs_uris(parse_object(obj), "tenant-acme")}
    assert found == {"spec.artifacts.output": "FieldValueForbidden",
                     "spec.params.data": "FieldValueForbidden"}
    assert foreign_vfs_uris(load("trainingjob-imagenet-finetune.yaml"), "tenant-acme") == []


# --- docs ----------------------------------------------------------------------------------


def test_api_doc_describes_every_field_of_every_kind() -> None:
    text = (EXAMPLES.parent / "api.md").read_text()
    sections = {}
    for chunk in text.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        sections[title.split(" ")[0]] = body
    for name, cls in KINDS.items():
        assert name in sections, f"docs/api.md has no section for {name}"
        spec = cls.model_fields["spec"].annotation
        status = cls.model_fields["status"].annotation
        status_model = next(a for a in status.__args__ if a is not type(None))  # type: ignore[union-attr]
        for model in (spec, status_model):
            for field_name, info in model.model_fields.items():  # type: ignore[union-attr]
                wire = info.alias or field_name
                assert f"`{wire}`" in sections[name], f"docs/api.md, {name}: `{wire}` missing"
