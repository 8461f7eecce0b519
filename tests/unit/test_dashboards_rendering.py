"""The pieces the board snapshots are drawn with: legends, units, PromQL selectors."""

from __future__ import annotations

import math

from aivc.boards import charts, dashboards


def test_legends_fill_in_labels_like_grafana() -> None:
    labels = {"__name__": "x", "campaign": "demo", "anchor": "x264"}
    assert charts.legend("best vs {{anchor}}", labels) == "best vs x264"
    assert charts.legend("{{ campaign }} {{missing}}", labels) == "demo"
    assert charts.legend("__auto", labels) == "campaign=demo, anchor=x264"


def test_values_are_shown_in_the_units_the_panels_declare() -> None:
    assert charts.fmt_value(-0.125, "percentunit") == "-12.5 %"
    assert charts.fmt_value(250_000, "bps") == "250 kb/s"
    assert charts.fmt_value(0.4, "currencyUSD") == "$0.40"
    assert charts.fmt_value(3, "prefix:v") == "v3"
    assert charts.fmt_value(300, "s") == "5.0 min"
    assert charts.fmt_value(7, None, 0) == "7"
    assert charts.fmt_value(math.nan, "bps") == "n/a"


def test_selectors_are_found_inside_functions_and_aggregations() -> None:
    expr = ('sum by (c) (increase(aivc_sandbox_failures_total{campaign=~"$c"}[1h])) / '
            'max by (job) (up) and on (job) group by (job) (aivc_build_info{driver="operator"})')
    assert dashboards.selectors(expr) == ['aivc_sandbox_failures_total{campaign=~"$c"}', "up",
                                          'aivc_build_info{driver="operator"}']
    assert dashboards.selectors("group by (job) (x)") == []


def test_the_time_range_variables_match_the_range_drawn() -> None:
    values = dashboards.grafana_variables("demo", 125.4)
    assert values["__range"] == "125s" and values["__range_s"] == "125"
    assert values["campaign"] == "demo"
