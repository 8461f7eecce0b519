"""The local store: CR-shaped documents, merge patches, atomic writes, a shared lock."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from aivc.store.base import StoreError, experiment_name, merge_patch, new_document
from aivc.store.local import LocalStore, atomic_write, open_store


def experiment(name: str = "c-0000", campaign: str = "c", seq: int = 0) -> dict:
    return new_document("Experiment", name, {"campaign": campaign, "sequence": seq})


def test_a_created_document_is_cr_shaped_and_reads_back(tmp_path):
    store = LocalStore(tmp_path)
    owner = store.create(new_document("Campaign", "c", {"dataset": {"clips": ["carphone"]}}))
    doc = new_document("Experiment", "c-0000", {"campaign": "c", "sequence": 0}, owner=owner)
    store.create(doc)
    got = store.get("Experiment", "c-0000")
    assert got["apiVersion"] == "aivc.dev/v1alpha1" and got["kind"] == "Experiment"
    assert got["metadata"]["uid"] and got["metadata"]["creationTimestamp"].endswith("Z")
    assert got["metadata"]["ownerReferences"][0]["name"] == "c"
    assert got["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    assert (tmp_path / "experiments" / "c-0000.yaml").is_file()


def test_creating_a_name_twice_is_refused(tmp_path):
    store = LocalStore(tmp_path)
    store.create(experiment())
    with pytest.raises(StoreError, match="already exists"):
        store.create(experiment())


def test_status_patches_merge_and_none_deletes(tmp_path):
    store = LocalStore(tmp_path)
    store.create(experiment())
    store.patch_status("Experiment", "c-0000", {"phase": "Designing", "lastError": {"stage": "x"},
                                                "metrics": {"kbps": 1.0, "psnrY": 30.0}})
    doc = store.patch_status("Experiment", "c-0000", {"lastError": None, "metrics": {"kbps": 2.0}})
    assert doc["status"] == {"phase": "Designing", "metrics": {"kbps": 2.0, "psnrY": 30.0}}
    assert store.get("Experiment", "c-0000")["status"] == doc["status"]


def test_a_spec_patch_cannot_smuggle_in_status(tmp_path):
    store = LocalStore(tmp_path)
    store.create(experiment())
    with pytest.raises(StoreError, match="patch_status"):
        store.patch("Experiment", "c-0000", {"status": {"phase": "Succeeded"}})


def test_patching_a_missing_document_names_it(tmp_path):
    with pytest.raises(StoreError, match="Experiment nope not found"):
        LocalStore(tmp_path).patch_status("Experiment", "nope", {"phase": "x"})


def test_experiments_are_listed_per_campaign_in_name_order(tmp_path):
    store = LocalStore(tmp_path)
    for name, campaign, seq in [("b-0001", "b", 1), ("a-0000", "a", 0), ("b-0000", "b", 0)]:
        store.create(experiment(name, campaign, seq))
    assert [d["metadata"]["name"] for d in store.list("Experiment", campaign="b")] == ["b-0000", "b-0001"]
    assert len(store.list("Experiment")) == 3


def test_sources_and_results_live_beside_the_documents(tmp_path):
    store = LocalStore(tmp_path)
    store.put_source("c-0001", "LEVELS = 4\n")
    store.put_results("c-0001", {"mode": "evaluate", "levels": []})
    assert store.get_source("c-0001") == "LEVELS = 4\n"
    assert store.get_results("c-0001") == {"mode": "evaluate", "levels": []}
    assert store.get_source("c-0002") is None and store.get_results("c-0002") is None


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b"])
def test_names_that_would_escape_the_run_dir_are_refused(tmp_path, name):
    with pytest.raises(StoreError):
        LocalStore(tmp_path).get("Experiment", name)


def test_an_unknown_kind_is_refused(tmp_path):
    with pytest.raises(StoreError, match="unknown kind"):
        LocalStore(tmp_path).get("Pod", "x")


def test_opening_a_run_dir_without_campaigns_says_how_to_start_one(tmp_path):
    with pytest.raises(StoreError, match="aivc run CAMPAIGN.yaml"):
        open_store(tmp_path / "nothing")


def test_merge_patch_follows_rfc_7386():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == \
        {"a": {"c": 2, "d": 3}, "l": [2]}


def test_experiment_names_are_deterministic():
    assert experiment_name("quickstart", 7) == "quickstart-0007"


def _hold_lock(root: str, ready: multiprocessing.synchronize.Event) -> None:
    store = LocalStore(Path(root))
    with store.locked():
        ready.set()
        time.sleep(30)


def test_a_writer_killed_while_holding_the_lock_does_not_block_others(tmp_path):
    store = LocalStore(tmp_path)
    store.create(experiment())
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready))
    proc.start()
    assert ready.wait(10)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    doc = store.patch_status("Experiment", "c-0000", {"phase": "Designing"})
    assert doc["status"]["phase"] == "Designing"


def test_an_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "d" / "x.yaml"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["x.yaml"]
