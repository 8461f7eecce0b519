"""The evolution branch in a real git repository: commits, tags, files, messages."""

from __future__ import annotations

import json
import subprocess

import git
import pytest

from aivc.api.documents import Metrics
from aivc.api.measurements import Quality
from aivc.vcs.evolution import Evolution, VcsError, commit_message


def sh(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_each_version_is_one_commit_with_source_results_and_a_tag(tmp_path):
    evo = Evolution.for_campaign("quick", "aivc/evolution", tmp_path)
    msg = commit_message(0, "quick-0000", "Baseline: the base codec.", None,
                         Metrics(bd_rate=120.5, kbps=300.0,
                                 quality=Quality(psnr_yuv=33.9, psnr_y=33.1, ssim_y=0.91)), "x264")
    v0 = evo.commit_version(0, "LEVELS = 4\n", json.dumps({"v": 0}), msg)
    v1 = evo.commit_version(1, "LEVELS = 3\n", json.dumps({"v": 1}),
                            commit_message(1, "quick-0001", "Switch on motion compensation.", "v0",
                                           Metrics(bd_rate=60.0, bd_rates={"best": -30.0}), "x264"))
    repo = tmp_path / "evolution" / "quick.git"
    assert sh(repo, "rev-parse", "--abbrev-ref", "HEAD") == "aivc/evolution"
    assert sh(repo, "log", "--format=%s", "aivc/evolution").splitlines() == [
        "v1: Switch on motion compensation.", "v0: Baseline: the base codec."]
    assert sh(repo, "tag").splitlines() == ["v0", "v1"]
    assert sh(repo, "rev-list", "-n1", "v1") == v1.sha and sh(repo, "rev-parse", "v1^") == v0.sha
    assert sh(repo, "ls-tree", "--name-only", "v1").splitlines() == ["codec.py", "results.json"]
    assert sh(repo, "show", "v0:codec.py") == "LEVELS = 4"
    assert json.loads(sh(repo, "show", "v1:results.json")) == {"v": 1}
    body = sh(repo, "log", "-1", "--format=%B", "v0")
    assert "Experiment: quick-0000" in body and "Score: BD-rate (PSNR-YUV) vs x264: 120.500%" in body
    assert sh(repo, "log", "-1", "--format=%an <%ae>|%cn", "v1") == "AIVC <aivc@localhost>|AIVC"


def test_committing_the_same_version_again_changes_nothing(tmp_path):
    evo = Evolution.for_campaign("c", "aivc/evolution", tmp_path)
    first = evo.commit_version(0, "a", "{}", "v0: a\n")
    again = Evolution.for_campaign("c", "aivc/evolution", tmp_path).commit_version(0, "a", "{}", "v0: a\n")
    assert (again.sha, again.created, first.created) == (first.sha, False, True)
    assert len(evo.history()) == 1


def test_a_configured_repo_gets_campaign_prefixed_tags_and_its_worktree_is_untouched(tmp_path):
    user = git.Repo.init(tmp_path / "mine")
    (tmp_path / "mine" / "notes.txt").write_text("my work\n")
    evo = Evolution.for_campaign("camp", "evo", tmp_path / "run", str(tmp_path / "mine"))
    made = evo.commit_version(2, "src", "{}", "v2: x\n")
    assert made.tag == "camp/v2"
    assert user.git.status("--porcelain") == "?? notes.txt"
    assert user.head.is_valid() is False  # the user's own branch is untouched
    assert sh(tmp_path / "mine", "show", "camp/v2:codec.py") == "src"


def test_a_remote_repo_receives_the_branch_and_tags(tmp_path):
    remote = tmp_path / "remote.git"
    git.Repo.init(remote, bare=True)
    evo = Evolution.for_campaign("c", "aivc/evolution", tmp_path / "run", f"file://{remote}")
    made = evo.commit_version(0, "src", "{}", "v0: x\n")
    assert sh(remote, "rev-parse", "aivc/evolution") == made.sha
    assert sh(remote, "tag") == "c/v0"


def test_an_unusable_repo_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a repo")
    evo = Evolution(blocker / "repo", "b", "c")
    with pytest.raises(VcsError, match="cannot open evolution repo"):
        evo.commit_version(0, "x", "{}", "m")


def test_a_tag_holding_another_codec_is_an_error_not_this_version(tmp_path):
    Evolution.for_campaign("c", "aivc/evolution", tmp_path).commit_version(0, "old", "{}", "v0\n")
    with pytest.raises(VcsError, match="tag v0 already exists .* with another codec"):
        Evolution.for_campaign("c", "aivc/evolution", tmp_path).commit_version(0, "new", "{}", "v0\n")


def test_a_campaign_created_again_under_its_name_starts_clean(tmp_path):
    shared = str(tmp_path / "shared")
    git.Repo.init(shared)
    first = Evolution.for_campaign("c", "evo", tmp_path / "run", shared, uid="1111aaaa-0000")
    old = first.commit_version(0, "old", "{}", "v0\n")
    again = Evolution.for_campaign("c", "evo", tmp_path / "run", shared, uid="2222bbbb-0000")
    new = again.commit_version(0, "new", "{}", "v0\n")
    assert (old.tag, new.tag) == ("c-1111aaaa/v0", "c-2222bbbb/v0")
    assert new.created and new.sha != old.sha
    mine = Evolution.for_campaign("c", "evo", tmp_path / "run", uid="2222bbbb-0000")
    assert mine.path == tmp_path / "run" / "evolution" / "c-2222bbbb.git"
