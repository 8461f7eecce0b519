"""Commit adopted codec versions to a campaign's evolution branch (gitpython).

By default each campaign gets a bare repository `RUN_DIR/evolution/CAMPAIGN.git` whose HEAD
is the evolution branch (`git -C runs/local/evolution/quickstart.git log` shows the story).
Each adopted version becomes one commit holding `codec.py` and `results.json`, tagged `vN`
(`CAMPAIGN/vN` in a repository the user configured, where several campaigns may meet). The
commit is built from git objects directly — blob, tree, commit, ref — so it never touches a
working tree or HEAD: pointing `git.repo` at your own checkout is safe. Author and committer
are set explicitly (CI machines have no git identity). Committing the same version twice is a
no-op, so a resumed run can simply try again.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import git
from git.objects.fun import tree_to_stream
from gitdb import IStream

from aivc.api.documents import Metrics
from aivc.errors import AivcError

AUTHOR = git.Actor("AIVC", "aivc@localhost")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/]+@[^/:]+:")


class VcsError(AivcError):
    """The evolution repository could not be opened, committed to or pushed."""


@dataclass(frozen=True)
class GitCredentials:
    """A user name and token for an HTTPS remote (a Campaign's `spec.git.credentialsSecret`).

    git asks a credential helper for them; the helper is configured through the environment
    of that one git process (`GIT_CONFIG_COUNT`, git 2.31+) and reads them from there, so
    they never land in a URL, a config file, a command line or a log line.
    """

    username: str
    token: str

    def __repr__(self) -> str:
        return f"GitCredentials(username={self.username!r}, token=***)"

    def env(self) -> dict[str, str]:
        helper = "!f() { echo username=$AIVC_GIT_USERNAME; echo password=$AIVC_GIT_TOKEN; }; f"
        return {"GIT_CONFIG_COUNT": "2",
                "GIT_CONFIG_KEY_0": "credential.helper", "GIT_CONFIG_VALUE_0": "",
                "GIT_CONFIG_KEY_1": "credential.helper", "GIT_CONFIG_VALUE_1": helper,
                "AIVC_GIT_USERNAME": self.username, "AIVC_GIT_TOKEN": self.token,
                "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class VersionCommit:
    version: int
    tag: str
    sha: str
    created: bool
    """False when the version was already committed (a resumed run)."""


class Evolution:
    """One campaign's evolution branch in a local repository (created when missing)."""

    def __init__(self, repo_path: Path, branch: str, campaign: str, *, shared: bool = False,
                 remote_url: str | None = None, credentials: GitCredentials | None = None) -> None:
        self.path, self.branch, self.campaign = Path(repo_path), branch, campaign
        self.shared, self.remote_url, self.credentials = shared, remote_url, credentials
        self._repo: git.Repo | None = None

    @classmethod
    def for_campaign(cls, campaign: str, branch: str, run_dir: Path, repo: str | None = None, *,
                     credentials: GitCredentials | None = None, uid: str | None = None) -> Evolution:
        """The default repo inside the run dir, a configured local path, or a remote URL
        (cloned into the run dir, pushed to with `credentials` when given). With a `uid`,
        the default repo, the clone and the tags are named `<campaign>-<uid[:8]>`."""
        key = f"{campaign}-{uid[:8]}" if uid else campaign
        if not repo:
            return cls(run_dir / "evolution" / f"{key}.git", branch, key)
        if _URL.match(repo):
            return cls(run_dir / "evolution-remote" / key, branch, key, shared=True,
                       remote_url=repo, credentials=credentials)
        return cls(Path(repo).expanduser(), branch, key, shared=True)

    def tag_name(self, version: int) -> str:
        return f"{self.campaign}/v{version}" if self.shared else f"v{version}"

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            self._repo = self._open()
        return self._repo

    def _open(self) -> git.Repo:
        try:
            if self.remote_url and not (self.path / ".git").exists():
                return git.Repo.clone_from(self.remote_url, self.path, env=self._env())
            if (self.path / ".git").exists() or (self.path / "HEAD").exists():
                return git.Repo(self.path)
            self.path.mkdir(parents=True, exist_ok=True)
            repo = git.Repo.init(self.path, bare=True)
            repo.git.symbolic_ref("HEAD", f"refs/heads/{self.branch}")
            return repo
        except (git.GitError, OSError) as exc:
            raise VcsError(f"cannot open evolution repo {self.remote_url or self.path}: "
                           f"{_one_line(exc)}") from None

    def commit_version(self, version: int, source: str, results_json: str,
                       message: str) -> VersionCommit:
        """Commit `source` and `results_json` as version N on the branch and tag it.

        A tag already there with this very codec is the same version (a resumed run); one
        with another codec is an error, never silently taken for this version.
        """
        tag = self.tag_name(version)
        try:
            existing = self._tagged(tag)
            if existing:
                if self._codec_at(existing) != source.encode():
                    raise VcsError(f"tag {tag} already exists in {self.remote_url or self.path} "
                                   f"with another codec (commit {existing[:12]}): refusing to "
                                   f"take it for this version; remove the tag or use another repo")
                return VersionCommit(version, tag, existing, created=False)
            sha = self._commit(source, results_json, message)
            self.repo.create_tag(tag, ref=sha)
            self._push(tag)
        except (git.GitError, OSError, ValueError) as exc:
            raise VcsError(f"cannot commit {tag} to {self.path} ({self.branch}): "
                           f"{_one_line(exc)}") from None
        finally:
            self.close()
        return VersionCommit(version, tag, sha, created=True)

    def close(self) -> None:
        """Stop gitpython's helper processes (they would outlive the commit otherwise)."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def _tagged(self, tag: str) -> str | None:
        ref = f"refs/tags/{tag}"
        if ref not in {r.path for r in self.repo.tags}:
            return None
        return str(self.repo.tags[tag].commit.hexsha)

    def _codec_at(self, sha: str) -> bytes | None:
        try:
            return bytes(self.repo.commit(sha).tree["codec.py"].data_stream.read())
        except KeyError:
            return None

    def _store(self, kind: str, raw: bytes) -> bytes:
        return bytes(self.repo.odb.store(IStream(kind, len(raw), io.BytesIO(raw))).binsha)

    def _commit(self, source: str, results_json: str, message: str) -> str:
        files = {"codec.py": source, "results.json": results_json}
        entries = [(self._store("blob", text.encode()), 0o100644, name)
                   for name, text in sorted(files.items())]
        stream = io.BytesIO()
        tree_to_stream(entries, stream.write)
        tree = self._store("tree", stream.getvalue()).hex()
        head = f"refs/heads/{self.branch}"
        parents = []
        if head in {r.path for r in self.repo.references}:
            parents = [self.repo.commit(head)]
        commit = git.Commit.create_from_tree(
            self.repo, self.repo.tree(tree), message, parent_commits=parents, head=False,
            author=AUTHOR, committer=AUTHOR)
        self.repo.git.update_ref(head, commit.hexsha)
        return str(commit.hexsha)

    def _push(self, tag: str) -> None:
        if not self.remote_url:
            return
        self.repo.git.push("origin", f"refs/heads/{self.branch}", f"refs/tags/{tag}", env=self._env())

    def _env(self) -> dict[str, str]:
        """What git needs for the remote: only these credentials, and never a prompt."""
        return self.credentials.env() if self.credentials else {"GIT_TERMINAL_PROMPT": "0"}

    def history(self) -> list[tuple[str, str]]:
        """(sha, message) of the commits on the evolution branch, newest first."""
        head = f"refs/heads/{self.branch}"
        try:
            if head not in {r.path for r in self.repo.references}:
                return []
            return [(str(c.hexsha), str(c.message)) for c in self.repo.iter_commits(head)]
        finally:
            self.close()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def commit_message(version: int, experiment: str, hypothesis: str, parent: str | None,
                   metrics: Metrics | None, anchor: str) -> str:
    """Subject `vN: hypothesis`, then the experiment, parent and headline metrics."""
    first = (hypothesis.strip().splitlines() or ["(no hypothesis)"])[0]
    subject = f"v{version}: {first}"[:100]
    lines = [subject, "", f"Experiment: {experiment}", f"Parent: {parent or '-'}"]
    m = metrics or Metrics()
    rows: list[tuple[str, float | None, str]] = [(f"Score: BD-rate (PSNR-YUV) vs {anchor}", m.bd_rate, "%")]
    rows += [(f"BD-rate (PSNR-YUV) vs {ref}", value, "%") for ref, value in m.bd_rates.items()
             if ref not in (anchor, "best")]
    rows += [("BD-rate (PSNR-YUV) vs previous best", m.bd_rate_vs_best, "%"),
             ("Mean bitrate", m.kbps, " kbps"), ("Mean PSNR-YUV", m.psnr_yuv, " dB"),
             ("Mean PSNR-Y", m.psnr_y, " dB")]
    for label, value, unit in rows:
        if value is not None:
            lines.append(f"{label}: {value:.3f}{unit}")
    if m.ssim_y is not None:
        lines.append(f"Mean SSIM-Y: {m.ssim_y:.4f}")
    for label, value in (("Encode speed", m.encode_fps), ("Decode speed", m.decode_fps)):
        if value is not None:
            lines.append(f"{label}: {value:.3f} fps")
    if hypothesis.strip() != first:
        lines += ["", hypothesis.strip()]
    return "\n".join(lines) + "\n"
