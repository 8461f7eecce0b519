"""What the sandbox lets a candidate import and read, decided from its source alone."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import aivc
from aivc.sandbox import hook, policy


def test_scan_lists_the_allowed_imports_to_load_before_the_hook() -> None:
    scan = policy.scan_source(
        "import numpy as np\nfrom scipy.fft import dctn\nimport zlib, struct\n"
        "def f():\n    import constriction\n    from torch.nn import functional\nLEVELS = 3\n")
    assert scan.forbidden == ()
    for name in ("numpy", "scipy.fft", "scipy.fft.dctn", "zlib", "struct", "constriction",
                 "torch.nn", "torch.nn.functional"):
        assert name in scan.preimports
    assert scan.levels == 3


@pytest.mark.parametrize("line", [
    "import cv2", "from PIL import Image", "import imageio.v3 as iio", "import av",
    "import subprocess", "from multiprocessing import Pool", "import socket",
    "import ctypes", "from urllib.request import urlopen", "import sklearn",
    "from numpy import f2py", "import torch.hub", "import signal", "from . import helper",
    "import aivc.sandbox.hook",
])
def test_scan_refuses_forbidden_imports_wherever_they_are(line: str) -> None:
    scan = policy.scan_source(f"def encode(video, level):\n    {line}\n")
    assert scan.forbidden, line


def test_levels_is_read_only_when_it_is_a_single_literal() -> None:
    assert policy.scan_source("LEVELS = 4\n").levels == 4
    assert policy.scan_source("LEVELS: int = 4\n").levels is None
    assert policy.scan_source("LEVELS = 2 + 2\n").levels is None
    assert policy.scan_source("LEVELS = 4\nLEVELS = 5\n").levels is None
    assert policy.scan_source("LEVELS = True\n").levels is None
    assert policy.scan_source("x = 1\n").levels is None


def test_scan_raises_syntax_errors_for_the_caller_to_report() -> None:
    with pytest.raises(SyntaxError):
        policy.scan_source("def encode(:\n")


def test_the_standard_library_is_allowed_except_what_escapes() -> None:
    for name in ("math", "struct", "json", "itertools", "collections.abc", "threading", "gc",
                 "numpy.linalg", "scipy.ndimage", "torch.nn.functional", "concurrent.futures"):
        assert policy.forbidden_reason(name) is None, name
    for name in ("concurrent.futures.process", "_posixsubprocess", "_xxsubinterpreters",
                 "sqlite3", "_testcapi", "pty", "asyncio"):
        assert policy.forbidden_reason(name) is not None, name
        assert name in policy.denied_modules() or name.split(".")[0] in policy.denied_modules()


def test_carve_cuts_hidden_subtrees_out_of_an_allowlist(tmp_path: Path) -> None:
    for sub in ("pkg/a", "pkg/b/data", "pkg/b/code", "other"):
        (tmp_path / sub).mkdir(parents=True)
    roots = (str(tmp_path / "pkg"), str(tmp_path / "other"))
    carved = policy.carve(roots, (str(tmp_path / "pkg/b/data"),))
    assert set(carved) == {str(tmp_path / p) for p in ("pkg/a", "pkg/b/code", "other")}


def test_read_roots_cover_the_interpreter_and_not_the_temp_directory() -> None:
    roots = policy.read_roots()
    assert any(policy.is_below(os.path.realpath(os.__file__), r) for r in roots)
    assert not any(policy.is_below("/tmp/x", r) for r in roots)
    # A checkout (and so its virtualenv) may itself live under /tmp; only the interpreter's
    # trees and the harness's own package may be readable there, nothing else in /tmp.
    harness = os.path.dirname(os.path.dirname(os.path.realpath(aivc.__file__)))
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    prefixes.add(harness)
    below_tmp = [r for r in roots if policy.is_below(r, "/tmp")]
    assert all(any(policy.is_below(r, p) for p in prefixes) for r in below_tmp), below_tmp


def test_resolver_follows_symlinks_and_dots_like_the_kernel(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real/file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real/up").symlink_to("../..")
    resolve = hook._make_resolver()
    for path in ("link/file", "real/./file", "real/up/" + tmp_path.name + "/real/file"):
        assert resolve(str(tmp_path / path)) == os.path.realpath(tmp_path / path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert "\0" in resolve(str(tmp_path / "loop/x"))


def test_path_policy_allows_the_workdir_and_libraries_only(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    lib = os.path.dirname(os.path.realpath(os.__file__))
    ok = hook._make_path_policy(hook._make_resolver(), (str(work),), (lib,), (), "/proc/1")
    assert ok(str(work / "out.bin"), True) is None
    assert ok(os.__file__, False) is None
    assert ok(os.__file__, True) is not None
    assert ok(str(tmp_path / "source.yuv"), False) is not None
    assert ok(str(work / ".." / "source.yuv").encode(), False) is not None
    assert ok(7, False) is None  # an open descriptor: nothing new is reached

    class Sneaky(str):
        def startswith(self, *args: object) -> bool:
            return True

    assert ok(Sneaky("/etc/passwd"), False) is not None
    assert ok(Path(os.__file__), False) is not None  # only plain str/bytes are trusted
