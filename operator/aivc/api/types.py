"""The closed vocabularies of the API: phases, verdicts, decisions, conditions and reasons.

In the style of Katib's API types: each value a document may hold is a constant here, so a
misspelt phase or reason is a NameError, not a silent mismatch. They are `StrEnum`s, so
they compare equal to the strings stored in documents and print as them.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where an Experiment is in the phase machine (`aivc.research.phases`)."""

    PENDING = "Pending"
    DESIGNING = "Designing"
    VALIDATING = "Validating"
    EXECUTING = "Executing"
    ANALYZING = "Analyzing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    NEEDS_HUMAN = "NeedsHuman"


TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED})
WAITING_PHASES = frozenset({Phase.NEEDS_HUMAN})


class Verdict(StrEnum):
    """What became of a finished Experiment."""

    ADOPTED = "Adopted"
    REJECTED = "Rejected"
    SKIPPED = "Skipped"


class Decision(StrEnum):
    """What a person may say about an Experiment in NeedsHuman."""

    RETRY = "retry"
    SKIP = "skip"
    ADOPT = "adopt"
    REJECT = "reject"


class Stage(StrEnum):
    """The piece of work that failed (an Experiment's `lastError.stage`)."""

    DESIGN = "design"
    VALIDATION = "validation"
    EXECUTION = "execution"
    ANALYSIS = "analysis"


class Outcome(StrEnum):
    """How a finished Experiment is counted (metric label `outcome`)."""

    ADOPTED = "adopted"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"


class CampaignPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    """Starting and driving experiments, or waiting for a person's decision on one."""
    COMPLETED = "Completed"
    """Stopped starting experiments, and every experiment has finished."""
    FAILED = "Failed"
    """The spec is invalid (see the SpecValid condition)."""


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    # Experiment
    DESIGNED = "Designed"
    VALIDATED = "Validated"
    EXECUTED = "Executed"
    ANALYZED = "Analyzed"
    NEEDS_HUMAN = "NeedsHuman"
    COMMITTED = "Committed"
    # Campaign
    RUNNING = "Running"
    STOPPING = "Stopping"
    SPEC_VALID = "SpecValid"
    PLANNER_READY = "PlannerReady"
    # Experiment: can the cluster run its sandbox Jobs?
    INFRASTRUCTURE = "Infrastructure"
    # Both: does the API server accept the operator's requests (permissions, valid objects)?
    API_ACCESS = "ApiAccess"


class Reason(StrEnum):
    """CamelCase reasons of conditions and Events (a failure's category becomes one too)."""

    CANDIDATE_READY = "CandidateReady"
    VALIDATION_PASSED = "ValidationPassed"
    MEASURED = "Measured"
    ADOPTED = "Adopted"
    REJECTED = "Rejected"
    SUSPICIOUS = "Suspicious"
    WAITING_FOR_DECISION = "WaitingForDecision"
    DECIDED = "Decided"
    COMMITTED = "Committed"
    COMMIT_FAILED = "CommitFailed"
    FAILED = "Failed"
    RUNNING = "Running"
    COMPLETED = "Completed"
    BUDGET_OR_GOAL = "BudgetOrGoal"
    API_REFUSED = "ApiRefused"
    API_ACCEPTED = "ApiAccepted"
    RESUMED = "Resumed"
    FAILURE_BUDGET = "FailureBudget"
    WAITING_FOR_PEOPLE = "WaitingForPeople"
    INVALID_SPEC = "InvalidSpec"
    # Events only
    EXPERIMENT_CREATED = "ExperimentCreated"
    DECISION_APPLIED = "DecisionApplied"
    DECISION_IGNORED = "DecisionIgnored"
    DECISION_REFUSED = "DecisionRefused"
    INVALID_DECISION = "InvalidDecision"
    REPORT_FAILED = "ReportFailed"
    PLANNER_KEY_REFUSED = "PlannerKeyRefused"
    PLANNER_UNAVAILABLE = "PlannerUnavailable"
    PLANNER_READY = "PlannerReady"
    INFRASTRUCTURE = "Infrastructure"
    SANDBOX_RAN = "SandboxRan"
    BLOCKED = "Blocked"


def camel(text: str) -> str:
    """`not_found` / `bad-key` → `NotFound` / `BadKey`: a category as a condition reason."""
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", "_").split("_") if part)


DECISION_ANNOTATION = "aivc.dev/decision"
NOTE_ANNOTATION = "aivc.dev/note"
CAMPAIGN_LABEL = "aivc.dev/campaign"

ERROR_CATEGORIES = ("import", "contract", "timeout", "memory", "crash", "mismatch", "forbidden", "size")
"""Why a candidate failed in the sandbox (DESIGN.md §4); `infra` is the platform's own."""

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
"""Kinds of Messages API tokens, as billed."""
