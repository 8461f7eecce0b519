"""`spec.git.credentialsSecret`: adopted versions are pushed to an HTTPS remote with those
credentials, over git's real smart-HTTP protocol (a loopback server running `git http-backend`
behind Basic authentication)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aivc.kube.client import CAMPAIGNS
from aivc.vcs.evolution import Evolution, GitCredentials, VcsError
from tests.fakes.cluster import Cluster, campaign_manifest
from tests.fakes.git_http import GitHttpServer
from tests.fakes.scripted_planner import ScriptedPlanner

USER, TOKEN = "aivc-bot", "s3cret-token"


def refs(repo: Path) -> dict[str, str]:
    out = subprocess.run(["git", "-C", str(repo), "for-each-ref", "--format=%(refname) %(objectname)"],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split() for line in out.splitlines())


def test_a_version_is_pushed_with_the_credentials_and_they_are_written_nowhere(tmp_path: Path):
    with GitHttpServer(tmp_path / "srv", USER, TOKEN) as server:
        remote = server.bare_repo("evo.git")
        evo = Evolution.for_campaign("demo", "aivc/evolution", tmp_path / "run", server.url("evo.git"),
                                     credentials=GitCredentials(USER, TOKEN))
        made = evo.commit_version(0, "LEVELS = 4\n", "{}\n", "v0: baseline\n")
        assert refs(remote) == {"refs/heads/aivc/evolution": made.sha, "refs/tags/demo/v0": made.sha}
        assert any(status == 401 for _, _, status in server.requests)  # git had to authenticate
        assert any(m == "POST" and p.endswith("git-receive-pack") and s == 200
                   for m, p, s in server.requests)
    clone = tmp_path / "run" / "evolution-remote" / "demo"
    stored = "".join(p.read_text(errors="ignore") for p in clone.joinpath(".git").rglob("*")
                     if p.is_file() and p.stat().st_size < 1_000_000)
    assert TOKEN not in stored


def test_wrong_credentials_fail_cleanly_and_push_nothing(tmp_path: Path):
    with GitHttpServer(tmp_path / "srv", USER, TOKEN) as server:
        remote = server.bare_repo("evo.git")
        evo = Evolution.for_campaign("demo", "aivc/evolution", tmp_path / "run", server.url("evo.git"),
                                     credentials=GitCredentials(USER, "n0t-the-t0ken"))
        with pytest.raises(VcsError) as caught:
            evo.commit_version(0, "LEVELS = 4\n", "{}\n", "v0\n")
        assert "n0t-the-t0ken" not in str(caught.value)
        assert refs(remote) == {}


async def _operator_pushes(data_dir: Path, server: GitHttpServer) -> dict[str, Any]:
    manifest = campaign_manifest("pushed", finishUp={"report": False}, git={
        "repo": server.url("evo.git"), "credentialsSecret": {"name": "git-creds"}})
    async with Cluster() as cluster:
        await cluster.create_secret("git-creds", {"username": USER, "token": TOKEN})
        memo = cluster.memo(data_dir, planner_factory=ScriptedPlanner({}).factory())
        async with cluster.operator(memo):
            await cluster.apply_campaign(manifest)
            await cluster.wait_for(lambda: _completed(cluster), 180, "the campaign")
            return await cluster.wait_for(lambda: _committed(cluster), 60, "the commit")


async def _committed(cluster: Cluster) -> dict[str, Any] | None:
    exp = await cluster.experiment("pushed-0000")
    conditions = (exp.get("status") or {}).get("conditions") or []
    return exp if any(c["type"] == "Committed" for c in conditions) else None


async def _completed(cluster: Cluster) -> bool:
    return ((await cluster.get(CAMPAIGNS, "pushed")).get("status") or {}).get("phase") == "Completed"


@pytest.mark.slow
def test_the_operator_pushes_with_the_campaigns_secret(tmp_path: Path):
    with GitHttpServer(tmp_path / "srv", USER, TOKEN) as server:
        remote = server.bare_repo("evo.git")
        done = asyncio.run(_operator_pushes(tmp_path / "data", server))
    commit = done["status"]["commit"]
    owner = done["metadata"]["ownerReferences"][0]["uid"]  # tags are keyed by the Campaign's UID
    assert commit["tag"] == f"pushed-{owner[:8]}/v0" and commit["repo"].endswith("/evo.git")
    assert refs(remote)[f"refs/tags/pushed-{owner[:8]}/v0"] == commit["sha"]
