"""Accepting a weaker sandbox is always explicit: a flag on both command lines, or the
AIVC_SANDBOX_ACCEPT_WEAKER setting; never the default."""

from __future__ import annotations

import pytest

from aivc import cli, settings
from aivc.sandbox.__main__ import build_parser, parse_limits
from aivc.sandbox.evaluation import default_limits


def test_the_default_refuses_a_weaker_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIVC_SANDBOX_ACCEPT_WEAKER", raising=False)
    assert settings.load().sandbox.accept_weaker is False
    assert default_limits().accept_weaker is False and parse_limits([]).accept_weaker is False


def test_the_setting_accepts_a_weaker_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIVC_SANDBOX_ACCEPT_WEAKER", "1")
    assert default_limits().accept_weaker is True and parse_limits([]).accept_weaker is True


def test_both_command_lines_take_the_flag_levels_and_redecode_policy() -> None:
    args = build_parser().parse_args(["evaluate", "--codec", "c.py", "--levels", "0,-1",
                                      "--redecode", "sample", "--accept-weaker-sandbox"])
    assert (args.levels, args.redecode, args.accept_weaker_sandbox) == ("0,-1", "sample", True)
    args = cli.build_parser("evaluate").parse_args(
        ["evaluate", "c.py", "--levels", "1", "--redecode", "sample", "--accept-weaker-sandbox"])
    assert (args.levels, args.redecode, args.accept_weaker_sandbox) == ("1", "sample", True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--codec", "c.py", "--redecode", "some"])


def test_each_mode_requires_its_layers_and_a_refusal_names_them_and_the_way_out() -> None:
    from aivc.sandbox.layers import Seen, missing, refusal, required
    from aivc.sandbox.limits import SandboxLimits

    assert required(SandboxLimits(pod=True)) == ("nnp", "seccomp", "rlimits", "landlock")
    local = required(SandboxLimits())
    assert {"netns", "ipcns", "pidns", "mntns", "view", "workcap", "seccomp", "landlock"} <= set(local)
    seen = Seen(layers=[x for x in local if x not in ("landlock", "ipcns")], reported=["landlock"])
    assert missing(SandboxLimits(), seen) == ["ipcns"]
    text = refusal("user", ["userns", "netns"])
    assert "userns, netns" in text and "user namespaces" in text
    assert "--accept-weaker-sandbox" in text and "AIVC_SANDBOX_ACCEPT_WEAKER=1" in text
