"""Campaign manifests: CRD validation names the bad field; defaults match the API server's."""

from __future__ import annotations

from pathlib import Path

import pytest

from aivc.api.spec import CampaignSpec, ManifestError, load_campaign

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "local-campaign.yaml"


def manifest(**spec: object) -> dict:
    body = {"dataset": {"clips": ["carphone:10"]}}
    body.update(spec)
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "c"},
            "spec": body}


BAD = [
    ("a negative experiment budget", {"budget": {"maxExperiments": 0}}, "spec.budget.maxExperiments"),
    ("an unknown planner", {"planner": "random"}, "spec.planner"),
    ("an unknown anchor", {"goal": {"anchor": "mpeg2"}}, "spec.goal.anchor"),
    ("a clip spec with a space", {"dataset": {"clips": ["car phone"]}}, "spec.dataset.clips[0]"),
    ("no clips at all", {"dataset": {"clips": []}}, "spec.dataset.clips"),
    ("a deadline that is not a time", {"budget": {"deadline": "tomorrow"}}, "spec.budget.deadline"),
    ("a negative tolerance", {"evaluation": {"heldOutTolerance": -1}},
     "spec.evaluation.heldOutTolerance"),
    ("too many retries", {"retries": {"validation": 99}}, "spec.retries.validation"),
]


@pytest.mark.parametrize(("spec", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_manifest_is_refused_naming_the_field(spec, field):
    with pytest.raises(ManifestError) as err:
        CampaignSpec.from_manifest(manifest(**spec))
    assert str(err.value).startswith(f"{field}:")


def test_a_campaign_without_a_name_is_refused():
    doc = manifest()
    doc["metadata"] = {}
    with pytest.raises(ManifestError, match="metadata.name"):
        CampaignSpec.from_manifest(doc)


def test_the_wrong_kind_is_refused():
    doc = manifest()
    doc["kind"] = "Experiment"
    with pytest.raises(ManifestError, match="kind: expected Campaign"):
        CampaignSpec.from_manifest(doc)


def test_defaults_are_those_of_the_crd():
    spec = CampaignSpec.from_manifest(manifest())
    assert spec.planner == "search"
    assert spec.anchor == "x264" and spec.anchors == ("x264", "x265")
    assert spec.budget.max_experiments == 20 and spec.parallelism == 1
    assert spec.limits.validation == 2 and spec.held_out_tolerance == 0.0 and spec.min_overlap == 0.8
    assert spec.git_branch == "aivc/evolution" and spec.git_repo is None


def test_the_bundled_example_is_a_valid_campaign():
    spec = load_campaign(EXAMPLE)
    assert spec.planner == "search" and spec.clips


def test_a_missing_manifest_file_is_one_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        load_campaign(tmp_path / "nope.yaml")


def test_a_manifest_that_is_not_yaml_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_campaign(bad)
