"""The documents of the API, parsed once into typed objects and written back.

Documents are stored CR-shaped (`apiVersion`, `kind`, `metadata`, `spec`, `status`) by both
stores; the modules behind this one are the only places that know their keys: `meta`
(metadata, conditions, decisions), `measurements` (`status.metrics`), `experiments` and
`campaigns`. This module gathers their public names, so code above the API layer has one
place to import documents from.
"""

from aivc.api.campaigns import (
    CAMPAIGN_STATUS_KEYS,
    BestSummary,
    CampaignDoc,
    CampaignStatus,
    Counts,
    campaign_status_json,
    parse_campaign_status,
    without_times,
)
from aivc.api.experiments import (
    DERIVED_STATUS_KEYS,
    STATUS_KEYS,
    AnalysisNote,
    Attempts,
    CascadeRecord,
    CodecRef,
    CommitRecord,
    DecisionRecord,
    ExperimentDoc,
    ExperimentSpec,
    ExperimentStatus,
    FailedDesign,
    Failure,
    Hold,
    LLMCall,
    Origin,
    RunSummary,
    experiment_status_json,
    index_view,
    new_experiment,
    parse_experiment_status,
    parse_version,
    status_patch,
    status_update,
    version_name,
)
from aivc.api.fields import Json, number
from aivc.api.measurements import BEST, ClipMetrics, Metrics, bd_rate_key
from aivc.api.meta import (
    Condition,
    Meta,
    clearing_annotations,
    condition,
    decision_annotations,
    find_condition,
    object_reference,
    set_conditions,
)

__all__ = [
    "BEST", "CAMPAIGN_STATUS_KEYS", "DERIVED_STATUS_KEYS", "STATUS_KEYS", "AnalysisNote",
    "Attempts", "BestSummary", "CascadeRecord", "CampaignDoc", "CampaignStatus", "ClipMetrics", "CodecRef",
    "CommitRecord", "Condition", "Counts", "DecisionRecord", "ExperimentDoc", "ExperimentSpec",
    "ExperimentStatus", "FailedDesign", "Failure", "Hold", "Json", "LLMCall", "Meta", "Metrics", "Origin", "RunSummary",
    "bd_rate_key", "campaign_status_json", "clearing_annotations", "condition",
    "decision_annotations", "experiment_status_json", "find_condition", "index_view",
    "new_experiment", "number", "object_reference", "parse_campaign_status",
    "parse_experiment_status", "parse_version", "set_conditions", "status_patch", "status_update", "version_name",
    "without_times",
]
