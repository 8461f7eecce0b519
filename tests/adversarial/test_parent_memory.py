"""The trusted parent's memory stays bounded whatever a child writes, on any channel.

Each run is a fresh interpreter that validates one candidate and reports its own peak
resident set (`ru_maxrss` of itself, not of its children). The bound: a hostile child may
cost the parent at most `BOUND_MIB` more than the honest codec does. The floods are 512 MiB
on stdout and stderr then an endless status channel (`flood_parent`), and a 200 MiB
bitstream plus decoded planes 250 times the source's size (`flood_files`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CANDIDATES = HERE / "candidates"
BOUND_MIB = 32
SCRIPT = """
import json, resource, sys
from pathlib import Path
from aivc.sandbox import SandboxLimits, validate_codec
limits = SandboxLimits(wall_seconds=60, cpu_seconds=30, max_file_bytes=256 << 20,
                       max_written_bytes=512 << 20)
result = validate_codec(Path(sys.argv[1]), limits)
error = result.first_error()
print(json.dumps({"category": error.category if error else "ok",
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def parent_peak(codec: Path) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(codec)], capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return doc["category"], doc["peak_kib"] / 1024


@pytest.mark.slow
@pytest.mark.parametrize(("name", "category"), [("flood_parent", "forbidden"),
                                                ("flood_files", "mismatch")])
def test_the_parents_peak_memory_stays_within_a_fixed_bound_of_an_honest_run(
        name: str, category: str, tmp_path: Path) -> None:
    honest_category, honest = parent_peak(CANDIDATES / "honest.py")
    assert honest_category == "ok"
    source = (CANDIDATES / f"{name}.py").read_text()
    if "\n# unhook\n" in source:
        source = (HERE / "unhook_snippet.py").read_text() + "\n" + source
    codec = tmp_path / f"{name}.py"
    codec.write_text(source)
    got, hostile = parent_peak(codec)
    assert got == category
    assert hostile <= honest + BOUND_MIB, \
        f"parent peak {hostile:.0f} MiB against {honest:.0f} MiB for the honest codec"
    print(f"{name}: parent peak {hostile:.1f} MiB, honest {honest:.1f} MiB")
