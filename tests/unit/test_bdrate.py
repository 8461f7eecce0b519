"""BD-rate and BD-PSNR: exact known values, agreement with the `bjontegaard` package on real
anchor curves, and clear errors for curves that cannot be compared."""

from __future__ import annotations

from pathlib import Path

import bjontegaard
import numpy as np
import pytest

from aivc.evaluate.anchors import AnchorCurve, anchor_curves
from aivc.evaluate.bdrate import RDCurveError, bd_psnr, bd_rate

ANCHOR_KBPS = [120.0, 210.0, 400.0, 800.0]
ANCHOR_PSNR = [30.1, 33.4, 36.2, 39.5]


@pytest.fixture(scope="module")
def carphone_curves(aivc_cache: Path) -> dict[str, AnchorCurve]:
    """Real x264/x265/AV1 curves on 16 frames of carphone, encoded once per session."""
    return anchor_curves("carphone:16", cache_dir=aivc_cache)


def test_a_curve_needing_80_percent_of_the_rate_at_equal_psnr_is_minus_20_percent() -> None:
    test_kbps = [r * 0.8 for r in ANCHOR_KBPS]
    assert bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, test_kbps, ANCHOR_PSNR) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(test_kbps, ANCHOR_PSNR, ANCHOR_KBPS, ANCHOR_PSNR) == pytest.approx(25.0, abs=1e-6)


def test_a_curve_one_db_better_at_every_rate_has_a_bd_psnr_of_one_db() -> None:
    better = [p + 1.0 for p in ANCHOR_PSNR]
    assert bd_psnr(ANCHOR_KBPS, ANCHOR_PSNR, ANCHOR_KBPS, better) == pytest.approx(1.0, abs=1e-9)
    assert bd_psnr(ANCHOR_KBPS, ANCHOR_PSNR, ANCHOR_KBPS, ANCHOR_PSNR) == pytest.approx(0.0, abs=1e-12)
    assert bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, ANCHOR_KBPS, better) < 0


def test_point_order_does_not_change_the_result() -> None:
    test_kbps, test_psnr = [100.0, 190.0, 350.0, 700.0], [30.0, 33.5, 36.0, 39.9]
    forward = bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, test_kbps, test_psnr)
    backward = bd_rate(ANCHOR_KBPS[::-1], ANCHOR_PSNR[::-1], test_kbps[::-1], test_psnr[::-1])
    assert forward == pytest.approx(backward, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("pair", [("x264", "x265"), ("x264", "av1"), ("x265", "av1")])
def test_bd_values_on_real_anchor_curves_agree_with_the_bjontegaard_package(
        carphone_curves: dict[str, AnchorCurve], pair: tuple[str, str]) -> None:
    anchor, test = (carphone_curves[name] for name in pair)
    a_rate, a_psnr = _sorted(anchor)
    t_rate, t_psnr = _sorted(test)
    ours = bd_rate(anchor.kbps, anchor.psnr_y, test.kbps, test.psnr_y)
    theirs = bjontegaard.bd_rate(a_rate, a_psnr, t_rate, t_psnr, method="pchip", min_overlap=0)
    assert np.isfinite(ours) and abs(ours) > 0.01  # two different encoders, not identical
    assert ours == pytest.approx(theirs, abs=1e-6)
    ours_db = bd_psnr(anchor.kbps, anchor.psnr_y, test.kbps, test.psnr_y)
    theirs_db = bjontegaard.bd_psnr(a_rate, a_psnr, t_rate, t_psnr, method="pchip", min_overlap=0)
    assert ours_db == pytest.approx(theirs_db, abs=1e-6)


def _sorted(curve: AnchorCurve) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(curve.kbps)
    return np.asarray(curve.kbps)[order], np.asarray(curve.psnr_y)[order]


def test_curves_that_do_not_overlap_in_psnr_are_refused() -> None:
    with pytest.raises(RDCurveError, match="do not overlap in PSNR"):
        bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, ANCHOR_KBPS, [p + 20 for p in ANCHOR_PSNR])
    with pytest.raises(RDCurveError, match="do not overlap in log-rate"):
        bd_psnr(ANCHOR_KBPS, ANCHOR_PSNR, [r * 100 for r in ANCHOR_KBPS], ANCHOR_PSNR)


def test_a_curve_whose_quality_falls_as_rate_rises_is_refused() -> None:
    with pytest.raises(RDCurveError, match="test curve is not monotonic"):
        bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, ANCHOR_KBPS, [30.0, 34.0, 33.0, 38.0])
    with pytest.raises(RDCurveError, match="two points at"):
        bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, [100.0, 100.0, 300.0, 500.0], ANCHOR_PSNR)


@pytest.mark.parametrize(("kbps", "psnr", "message"), [
    ([100.0], [35.0], "1 point"),
    ([100.0, 200.0], [35.0], "2 rates but 1 PSNR"),
    ([0.0, 200.0], [30.0, 35.0], "rate <= 0"),
    ([100.0, float("nan")], [30.0, 35.0], "non-finite"),
])
def test_malformed_curves_are_refused_with_the_reason(
        kbps: list[float], psnr: list[float], message: str) -> None:
    with pytest.raises(RDCurveError, match=message):
        bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, kbps, psnr)


def test_curve_errors_are_a_single_line() -> None:
    with pytest.raises(RDCurveError) as info:
        bd_rate(ANCHOR_KBPS, ANCHOR_PSNR, ANCHOR_KBPS, [30.0, 34.0, 33.0, 38.0])
    assert "\n" not in str(info.value)

