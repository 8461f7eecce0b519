"""Every board query and alert rule against a real Prometheus scraping real AIVC processes.

Debian's `prometheus` scrapes, every second: two real `aivc run --metrics-port` campaigns
(`demo`, a healthy search; `llm`, whose planner talks to a fake Messages API through the
real SDK and only ever proposes a codec without a working decoder, so its candidates fail
in the sandbox and wait for a person) and a real `aivc operator --metrics-port` connected
to the API emulator. Then every PromQL expression of every panel, with Grafana's variables filled
in, must return data ("No data" is a broken panel), every alert rule must load and evaluate
cleanly, and the alerts must say what is true of these runs.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aivc.boards import dashboards, snapshots
from aivc.boards.scraped import ScrapedRuns
from aivc.testing.messages import FakeMessagesServer, tool_use
from tests.fakes.prometheus import PrometheusError, free_port, require_binaries

pytestmark = pytest.mark.slow
API_KEY = "sk-ant-observability-test"
OPERATOR_JOB = "aivc-operator"  # the chart's default `metrics.jobName`
QUERIES = [q for name, board in dashboards.boards().items() for q in dashboards.queries(name, board)]


class EmulatedOperator:
    """`aivc operator` in its own process, logged in to the API emulator by a kubeconfig."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self._stop = threading.Event()
        self._up = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None

    async def _serve(self) -> None:
        from tests.fakes.cluster import Cluster

        async with Cluster() as cluster:
            self.url = cluster.url
            self._up.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.1)

    def start(self) -> str:
        threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True).start()
        assert self._up.wait(30), "the API emulator did not start"
        kubeconfig = self.workdir / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "test"}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator"}}]}))
        with (self.workdir / "operator.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aivc.cli", "operator", "--standalone",
                 "--metrics-port", str(self.port), "--data-dir", str(self.workdir / "data")],
                env={**os.environ, "KUBECONFIG": str(kubeconfig)}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self._stop.set()


class Observed:
    """The scraped runs, their Prometheus and the operator process."""

    def __init__(self, runs: ScrapedRuns, operator: EmulatedOperator) -> None:
        self.runs, self.prom, self.operator = runs, runs.prom, operator
        self.ended = runs.ended

    def evaluate(self, query: dashboards.PanelQuery, campaign: str) -> list[float]:
        """Finite values of one panel query over the campaign's run, as Grafana asks for them."""
        start, end = self.runs.started, self.ended[campaign]
        expr = dashboards.substitute(query.expr, dashboards.grafana_variables(campaign, end - start))
        assert "$" not in expr, expr
        if query.instant:
            values = [float(s["value"][1]) for s in self.prom.query(expr, at=end)]
        else:
            values = [float(v) for s in self.prom.query_range(expr, start, end, 1)
                      for _, v in s["values"]]
        return [v for v in values if math.isfinite(v)]


def write_manifests(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [snapshots.manifest("demo", snapshots.DEMO_CLIPS, 3),
            snapshots.manifest("llm", snapshots.DEMO_CLIPS, 3, planner="llm",
                               llm={"reviewEvery": 0}, retries={"validation": 1})]
    paths = [folder / f"{d['metadata']['name']}.yaml" for d in docs]
    for path, doc in zip(paths, docs, strict=True):
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return paths


def script_the_llm(server: FakeMessagesServer) -> None:
    """Every proposal is the unfinished codec; lessons are acknowledged."""
    proposal = {"hypothesis": "skip the decoder for now", "rationale": "a test",
                "source": snapshots.BROKEN_CODEC}
    server.always("propose_codec", lambda _: tool_use("propose_codec", proposal))
    server.always("record_analysis", lambda _: tool_use(
        "record_analysis", {"lesson": "a codec needs a decoder", "advice": "avoid"}))


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    require_binaries("prometheus")
    work = tmp_path_factory.mktemp("observed")
    operator = EmulatedOperator(work)
    with FakeMessagesServer(api_key=API_KEY) as llm:
        script_the_llm(llm)
        env = {**os.environ, "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": llm.url}
        runs = ScrapedRuns(work, write_manifests(work / "manifests"),
                           extra_targets={OPERATOR_JOB: [operator.start()]},
                           rule_files=[dashboards.GRAFANA_DIR / dashboards.RULE_FILE], env=env)
        try:
            with runs:
                runs.prom.wait_for(f'up{{job="{OPERATOR_JOB}"}} == 1', 60)
                runs.wait(timeout_s=240)
                yield Observed(runs, operator)
        except BaseException:
            print(f"--- prometheus log ---\n{runs.prom.log_tail(30)}")
            for run in runs.runs:
                print(f"--- {run.log} ---\n{run.tail()}")
            raise
        finally:
            operator.stop()


def test_both_campaigns_and_the_operator_were_scraped(observed: Observed) -> None:
    assert set(observed.ended) == {"demo", "llm"}
    finished = observed.prom.query('max by (campaign, outcome) '
                                   '(last_over_time(aivc_experiments_finished_total[1h])) > 0')
    outcomes = {(s["metric"]["campaign"], s["metric"]["outcome"]) for s in finished}
    assert ("demo", "adopted") in outcomes, outcomes
    assert observed.prom.query('last_over_time(aivc_build_info{driver="operator"}[1h])')
    # the llm campaign went through the SDK to the fake API and failed in the sandbox
    assert observed.prom.query('sum(last_over_time(aivc_llm_tokens_total{kind="input"}[1h])) > 0')
    assert observed.prom.query('sum(last_over_time(aivc_llm_cost_usd_total[1h])) > 0')
    assert observed.prom.query(
        'sum(last_over_time(aivc_sandbox_failures_total{campaign="llm"}[1h])) > 0')


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.board}:{q.panel_id}{q.ref_id}:{q.title}")
def test_every_panel_query_returns_data(observed: Observed, query: dashboards.PanelQuery) -> None:
    got = {c: observed.evaluate(query, c) for c in observed.ended}
    assert any(got.values()), f"{query.title!r} ({query.expr}) shows No data for every campaign"


def test_every_rule_loads_and_evaluates_without_error_in_prometheus(observed: Observed) -> None:
    groups = observed.prom.api("rules")["groups"]
    loaded = [r for g in groups for r in g["rules"]]
    assert len(loaded) == len(dashboards.rules())
    for rule in loaded:
        assert not rule["lastEvaluation"].startswith("0001"), f"{rule['name']} never evaluated"
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))


@pytest.mark.parametrize("rule", dashboards.rules(), ids=lambda r: f"{r.name}:{r.labels.get('stalled_by', '')}")
def test_every_rule_expression_reads_series_that_were_scraped(observed: Observed,
                                                               rule: dashboards.Rule) -> None:
    observed.prom.query(rule.expr, at=observed.ended["demo"])  # parses and evaluates
    for selector in dashboards.selectors(rule.expr):
        assert observed.prom.query(f"last_over_time({selector}[1h])"), f"{rule.name}: {selector} is empty"


def alert_hits(observed: Observed, name: str, campaign: str) -> list[dict[str, Any]]:
    """The alert's expression (without its `for`) at the end of the campaign's run."""
    hits = []
    for rule in (r for r in dashboards.rules() if r.name == name):
        hits += [s for s in observed.prom.query(rule.expr, at=observed.ended[campaign])
                 if s["metric"].get("campaign", campaign) == campaign]
    return hits


def test_the_failing_campaign_asks_for_a_person_and_the_healthy_one_alerts_nothing(
        observed: Observed) -> None:
    assert alert_hits(observed, "HumanInterventionNeeded", "llm")
    waiting = observed.prom.query('aivc_needs_human_since_timestamp_seconds{campaign="llm"}',
                                  at=observed.ended["llm"])
    assert waiting and all(s["metric"]["experiment"].startswith("llm") for s in waiting)
    for name in ("HumanInterventionNeeded", "CampaignStalled", "SandboxFailureRateHigh",
                 "LLMBudgetNearlyExhausted", "OperatorDown"):
        assert not alert_hits(observed, name, "demo"), name


def test_operator_down_fires_once_the_operator_process_is_gone(observed: Observed) -> None:
    rule = next(r for r in dashboards.rules() if r.name == "OperatorDown")
    assert not observed.prom.query(rule.expr)
    observed.operator.stop()
    try:
        hits = observed.prom.wait_for(rule.expr, 30)
    except PrometheusError as exc:
        pytest.fail(f"OperatorDown stayed silent with the operator stopped: {exc}")
    assert {s["metric"]["job"] for s in hits} == {OPERATOR_JOB}
