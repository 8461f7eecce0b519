"""`REQUIRED_PERMISSIONS` is minimal: the scenarios above used every verb it grants.

Each scenario module asserts that its own calls are covered (sufficiency) and records them
in `tests.fakes.cluster.AUDIT`. This module runs after them (pytest runs files in name
order) and checks the other direction. Run alone, it has nothing to check and says so.
"""

from __future__ import annotations

import pytest

from aivc.kube.permissions import REQUIRED_PERMISSIONS, rule_for
from tests.fakes.cluster import AUDIT

SCENARIOS = {"campaign", "decisions", "deletion", "faults", "restart"}


def test_every_required_permission_is_used_by_some_scenario() -> None:
    ran = {scenario for scenario, *_ in AUDIT}
    if not ran >= SCENARIOS:
        pytest.skip(f"needs the scenarios {sorted(SCENARIOS - ran)} in the same session: "
                    "run tests/integration/test_operator_*.py together")
    used: set[tuple[str, str, str, bool, bool]] = set()
    for _, namespaced, peering, calls in AUDIT:
        for call in calls:
            rule = rule_for(call.method, call.path, call.watch)
            if rule is not None:
                used.add((*rule, namespaced, peering))
    unused = [f"{p.api_group or 'core'}/{p.resource}: {verb} ({p.when})"
              for p in REQUIRED_PERMISSIONS for verb in p.verbs
              if not any(u[:3] == (p.api_group, p.resource, verb) and p.applies(u[3], u[4])
                         for u in used)]
    assert unused == []
