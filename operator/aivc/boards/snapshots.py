"""`python -m aivc.boards.snapshots --out docs/img` (`make dashboards`): the boards' PNGs.

Runs three small real local campaigns with their metrics scraped every second by a real
Prometheus, then draws each Grafana board from range and instant queries over the runs
(see `aivc.boards.charts`):

- `demo`: the search planner on real footage, the healthy case the Campaign board shows;
- `stuck`: its base codec has no working decoder, so it fails in the sandbox and waits
  for a person;
- `offline`: the LLM planner with the API unreachable (a closed loopback port), so its
  requests fail and its design waits for a person.

Nothing in the pictures is made up: every value went through /metrics and PromQL. No
operator runs here, so the operator-only panels (reconcile errors) show "No data".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from aivc.boards import charts, dashboards
from aivc.boards.promserver import free_port
from aivc.boards.scraped import ScrapedRuns

DEMO_CLIPS = ("carphone:8",)
BOARD_PNGS = {"campaign.json": "campaign-board.png",
              "sandbox-operator.json": "sandbox-operator-board.png"}
BROKEN_CODEC = '''"""A base codec whose decoder was never finished: every run of it fails."""
LEVELS = 4


def encode(video, level):
    return bytes(16 + level)


def decode(bitstream):
    raise NotImplementedError("the decoder is not written yet")
'''


def manifest(name: str, clips: tuple[str, ...], experiments: int, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": name},
            "spec": {"budget": {"maxExperiments": experiments}, "planner": "search",
                     "dataset": {"clips": list(clips)}, "evaluation": {"anchors": ["x264"]},
                     **spec}}


def write_demo_manifests(folder: Path, experiments: int, clips: tuple[str, ...] = DEMO_CLIPS) -> list[Path]:
    """`demo`, `stuck` and `offline` (see the module docstring) as Campaign YAML files."""
    folder.mkdir(parents=True, exist_ok=True)
    broken = folder / "unfinished_codec.py"
    broken.write_text(BROKEN_CODEC)
    docs = {"demo": manifest("demo", clips, experiments),
            "stuck": manifest("stuck", clips, 2, baseCodec=str(broken),
                              retries={"design": 0, "validation": 1, "execution": 0}),
            "offline": manifest("offline", clips, 2, planner="llm", llm={"reviewEvery": 0},
                                retries={"design": 0})}
    paths = []
    for name, doc in docs.items():
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def offline_llm_env() -> dict[str, str]:
    """A key (never valid) and an API address where nothing listens: every request fails."""
    return {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-snapshot-offline",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{free_port()}"}


def render(runs: ScrapedRuns, out: Path, campaign: str = "demo") -> list[Path]:
    """One PNG per board: the Campaign board over `campaign`'s run, the health board over
    every campaign (instant queries at the moment each board's runs were last scraped)."""
    made = []
    for name, png in BOARD_PNGS.items():
        board = dashboards.load_board(name)
        single = name == "campaign.json"
        end = runs.ended[campaign] if single else runs.finished
        span = end - runs.started
        rate = f"{max(15, round(4 * span / 400))}s"
        variables = dashboards.grafana_variables(campaign if single else ".*", span,
                                                 namespace="local" if single else ".*",
                                                 rate_interval=rate)
        label = f"campaign=local/{campaign}" if single else "campaign=All"
        made.append(charts.render_board(board, runs.prom, charts.Window(runs.started, end, variables),
                                        out / png, subtitle=f"({label}, {span / 60:.1f} min of local runs)"))
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aivc.boards.snapshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="where the PNGs go")
    parser.add_argument("--experiments", type=int, default=6, help="experiments of the demo run")
    parser.add_argument("--workdir", type=Path, help="keep runs and Prometheus data here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aivc-snapshots-") as tmp:
        work = args.workdir or Path(tmp)
        manifests = write_demo_manifests(work / "manifests", args.experiments)
        with ScrapedRuns(work, manifests, env=offline_llm_env()) as runs:
            runs.wait()
            for path in render(runs, args.out):
                print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
