"""What the kernel enforces, checked from the parent: the layers it saw, the ones it refuses
to run without, and the rules that hold with the audit hook gone and no namespace at all.

These run as root and, in CI, again as a normal user (`make adversarial-user` covers the
hostile candidates; the layer set checked here adapts: a user namespace appears as
`userns`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aivc.evaluate.clips import ClipSpec, synthetic_clip
from aivc.evaluate.results import ErrorRecord
from aivc.sandbox import SandboxLimits, evaluate_codec, validate_codec
from aivc.sandbox.layers import required
from aivc.sandbox.process import SandboxUnavailable
from aivc.sandbox.session import Session
from aivc.sandbox.steps import decode_level, encode_clip
from aivc.sandbox.workspace import Workspace

ADVERSARIAL = Path(__file__).parents[1] / "adversarial"
CANDIDATES = ADVERSARIAL / "candidates"
HONEST = CANDIDATES / "honest.py"
UNHOOK = (ADVERSARIAL / "unhook_snippet.py").read_text()
WEAKER = SandboxLimits(accept_weaker=True, wall_seconds=20)


def unhooked(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "codec.py"
    path.write_text(UNHOOK + "\n" + body)
    return path


def encode_once(source: bytes, limits: SandboxLimits, namespaces: bool) -> ErrorRecord | None:
    with Workspace(source) as ws:
        session = Session(ws, limits, ("numpy", "os", "struct"), 1, namespaces=namespaces)
        out = ws.bitstreams / "0"
        out.mkdir()
        return encode_clip(session, "tiny", synthetic_clip(64, 48, 2), [0], out).error


def test_the_parent_sees_every_layer_the_mode_requires(scratch: Path) -> None:
    result = validate_codec(HONEST)
    assert result.ok, result.errors
    record = result.sandbox
    assert record["mode"] == ("root" if os.geteuid() == 0 else "user")
    assert set(required(SandboxLimits())) <= {*record["layers"], *record["reported"]}
    assert record["missing"] == [] and record["weakerAccepted"] is False
    assert "audit" in record["reported"] and "audit" not in record["layers"]


def test_without_namespaces_the_sandbox_refuses_and_names_what_is_missing(scratch: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="netns.*accept-weaker-sandbox"):
        encode_once(HONEST.read_bytes(), SandboxLimits(), namespaces=False)


def test_a_weaker_sandbox_runs_only_when_accepted_and_the_record_says_so(scratch: Path) -> None:
    with Workspace(HONEST.read_bytes()) as ws:
        session = Session(ws, WEAKER, ("numpy",), 2, namespaces=False)
        session.run("probe", {}, {}).outputs.close()
        record = session.isolation()
    assert record["weakerAccepted"] is True
    assert {"netns", "pidns", "view", "workcap"} <= set(record["missing"])
    assert {"seccomp", "nnp", "rlimits"} <= set(record["layers"])


def test_metadata_changes_outside_the_work_directory_die_without_hook_or_namespaces(
        scratch: Path) -> None:
    target = scratch / "owned-by-the-caller.txt"
    target.write_text("keep me")
    os.chmod(target, 0o644)
    before = target.stat()
    source = unhooked(scratch, f"import os\nLEVELS = 1\n\ndef encode(video, level):\n"
                               f"    os.utime({str(target)!r}, (0, 0))\n"
                               f"    os.chmod({str(target)!r}, 0o777)\n    return b'x'\n\n"
                               "def decode(bitstream):\n    return None\n")
    error = encode_once(source.read_bytes(), WEAKER, namespaces=False)
    assert error is not None and error.category == "forbidden", error
    after = target.stat()
    assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns)


def test_ipc_objects_die_without_hook_or_namespaces(scratch: Path) -> None:
    source = unhooked(scratch, (CANDIDATES / "ipc_sysv_shm.py").read_text())
    error = encode_once(source.read_bytes(), WEAKER, namespaces=False)
    assert error is not None and error.category == "forbidden", error


def test_the_decoder_finds_only_its_bitstream_in_a_fresh_directory(scratch: Path) -> None:
    source = unhooked(scratch, HONEST.read_text() + "\n\nimport os\n\ndef decode(bitstream):\n"
                               "    try:\n        top = os.listdir('/')\n"
                               "    except OSError as exc:\n        top = exc.strerror\n"
                               "    raise RuntimeError(f'{sorted(os.listdir())} {top}')\n")
    error = validate_codec(source).first_error()
    assert error is not None and error.stage == "decode", error
    first = error.message.splitlines()[0]
    assert first == "RuntimeError: ['bitstream.bin', 'codec.py'] Permission denied", first


def test_the_record_holds_only_what_the_parent_saw_not_what_the_child_claimed(
        scratch: Path) -> None:
    result = validate_codec(unhooked(scratch, (CANDIDATES / "layer_downgrade.py").read_text()),
                            SandboxLimits(wall_seconds=20))
    assert result.first_error() is not None
    assert result.first_error().category == "forbidden"  # type: ignore[union-attr]
    assert "unbreakable" not in result.to_json()
    assert set(required(SandboxLimits())) <= {*result.sandbox["layers"], *result.sandbox["reported"]}


def test_one_process_encodes_every_level_and_each_decode_is_fresh(
        scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[str] = []
    real = Session.run

    def counting(self: Session, mode: str, *args: object, **kwargs: object) -> object:
        modes.append(mode)
        return real(self, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "run", counting)
    result = evaluate_codec(HONEST, [ClipSpec.parse("carphone:2:32x32")],
                            SandboxLimits(parallel=2), redecode="sample")
    assert result.ok, result.errors
    assert modes.count("encode") == 1 and modes.count("decode") == 2 + 1
    assert sum(r.redecoded for r in result.levels) == 1


def test_a_cascade_of_two_calls_merges_into_the_full_evaluation(scratch: Path) -> None:
    clips = [ClipSpec.parse("carphone:2:32x32"), ClipSpec.parse("carphone:2:48x32")]
    full = evaluate_codec(HONEST, clips, SandboxLimits(parallel=2))
    first = evaluate_codec(HONEST, clips[:1], SandboxLimits(parallel=2), levels=[-1],
                           redecode="sample")
    rest = evaluate_codec(HONEST, clips[:1], SandboxLimits(parallel=2), levels=[0])
    held = evaluate_codec(HONEST, clips[1:], SandboxLimits(parallel=2))
    merged = first.merge(rest).merge(held)
    assert [c.name for c in merged.clips] == [c.name for c in full.clips]
    key = [(r.clip, r.level, r.bytes, r.psnr_yuv) for r in merged.levels]
    assert key == [(r.clip, r.level, r.bytes, r.psnr_yuv) for r in full.levels]
    with pytest.raises(ValueError, match="both"):
        merged.merge(rest)


def test_levels_count_from_the_end_and_out_of_range_is_the_callers_error(scratch: Path) -> None:
    result = evaluate_codec(HONEST, [ClipSpec.parse("carphone:2:32x32")], levels=[-1])
    assert [r.level for r in result.levels] == [1]
    with pytest.raises(Exception, match="LEVELS = 2"):
        evaluate_codec(HONEST, [ClipSpec.parse("carphone:2:32x32")], levels=[5])


def test_work_done_at_import_time_is_counted_in_both_speeds(scratch: Path) -> None:
    heavy = scratch / "heavy.py"
    heavy.write_text("import time\n_t = time.process_time()\nwhile time.process_time() - _t < 1.0:\n"
                     "    pass\n" + HONEST.read_text())
    result = evaluate_codec(heavy, [ClipSpec.parse("carphone:2:32x32")], SandboxLimits(parallel=1),
                            levels=[0, 1])
    assert result.ok, result.errors
    for r in result.levels:
        assert r.decode_import_seconds >= 0.9 and r.decode_seconds >= r.decode_import_seconds
        assert r.encode_import_seconds >= 0.45  # one import shared by the two levels
        assert r.encode_seconds >= r.encode_import_seconds


def test_decoding_needs_only_the_bitstream_file(scratch: Path) -> None:
    video = synthetic_clip(32, 32, 2)
    with Workspace(HONEST.read_bytes()) as ws:
        session = Session(ws, SandboxLimits(), ("numpy", "struct", "zlib"), 2)
        out = ws.bitstreams / "0"
        out.mkdir()
        enc = encode_clip(session, "tiny", video, [0, 1], out)
        assert enc.error is None and sorted(enc.bitstreams) == [0, 1]
        assert sorted(p.name for p in out.iterdir()) == ["0.bin", "1.bin"]
        dec = decode_level(session, "tiny", video, 1, enc.bitstreams[1], runs=2)
    assert not isinstance(dec, ErrorRecord) and dec.redecoded
