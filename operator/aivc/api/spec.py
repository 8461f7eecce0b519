"""Campaign and Experiment documents: validation, defaulting and typed access.

The CRDs in `crds/` are the single source of the resource shape. Local mode validates a
Campaign YAML against the same openAPIV3Schema the API server uses, applies the same
defaults, and then reads it through the typed `CampaignSpec` below, so a manifest that works
with `aivc run` works with `kubectl apply` and the other way round.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from aivc.api import API_VERSION
from aivc.api.crds import schema
from aivc.errors import AivcError


class ManifestError(AivcError):
    """A Campaign or Experiment document is invalid; the message names the field."""


def apply_defaults(obj: Any, node: dict[str, Any]) -> Any:
    """Fill `default`s the way the API server does: missing fields, then recurse."""
    if isinstance(obj, dict) and node.get("type") == "object":
        for name, sub in (node.get("properties") or {}).items():
            if name not in obj and "default" in sub:
                obj[name] = copy.deepcopy(sub["default"])
            if name in obj:
                obj[name] = apply_defaults(obj[name], sub)
    elif isinstance(obj, list) and "items" in node:
        return [apply_defaults(item, node["items"]) for item in obj]
    return obj


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[") or "(document)"


def validate(doc: Any, kind: str) -> dict[str, Any]:
    """Validate a manifest against its CRD schema and return a defaulted copy."""
    if not isinstance(doc, dict):
        raise ManifestError(f"{kind} manifest must be a mapping, got {type(doc).__name__}")
    if doc.get("kind", kind) != kind:
        raise ManifestError(f"kind: expected {kind}, got {doc.get('kind')!r}")
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        raise ManifestError(f"apiVersion: expected {API_VERSION}, got {doc.get('apiVersion')!r}")
    root = schema(kind)
    doc = apply_defaults(copy.deepcopy(doc), root)
    validator = jsonschema.Draft7Validator(root, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ManifestError(f"{_field_path(first)}: {_message(first)}{more}")
    return doc


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, in words for a quantity (its pattern says little to a person).

    Other Kubernetes extensions (`x-kubernetes-validations`: CEL rules, checked by the API
    server only; local mode has no previous version of a Campaign to compare with) are
    keywords jsonschema does not know, so it ignores them."""
    if error.schema.get("x-kubernetes-int-or-string") and error.validator in ("pattern", "anyOf"):
        quote = " (quote a fraction: \"1.5\")" if isinstance(error.instance, float) else ""
        return f"{error.instance!r} is not a Kubernetes quantity (e.g. 2, 500m, 4Gi; not 4GB){quote}"
    return str(error.message)


# ---- typed views -------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How many repairs each stage gets before a person is asked (Campaign `spec.retries`)."""

    design: int = 2
    validation: int = 2
    execution: int = 1

    def of(self, stage: str) -> int:
        return int(getattr(self, stage))


@dataclass(frozen=True)
class Budget:
    max_experiments: int
    max_cost_usd: float
    deadline: str | None
    max_duration_minutes: int | None
    max_failed: int | None = None
    max_consecutive_failures: int | None = None


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per million tokens of a model the Campaign prices itself (`spec.llm.prices`)."""

    input: float
    output: float
    cache_write: float | None = None
    """None: 1.25x the input price."""
    cache_read: float | None = None
    """None: 0.1x the input price."""
    max_output: int | None = None


LLM_ROLES = ("design", "analysis", "review")


@dataclass(frozen=True)
class LLMSpec:
    model: str
    max_tokens: int
    review_every: int
    secret_name: str | None
    secret_key: str
    models: dict[str, str] = field(default_factory=dict)
    """Role (design, analysis, review) → model, for the roles that do not use `model`."""
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    prompt_budget_tokens: int = 60_000
    design_models: tuple[str, ...] = ()
    """Hybrid planner: the models a bandit chooses among for design calls (empty: one)."""

    def model_for(self, role: str) -> str:
        """The model of a role; `repair` is a design."""
        return self.models.get("design" if role == "repair" else role) or self.model

    def models_in_use(self) -> tuple[str, ...]:
        """Every model a role writes with (design first), each once."""
        return tuple(dict.fromkeys([*(self.design_models or (self.model_for("design"),)),
                                    self.model_for("analysis"), self.model_for("review")]))

    @classmethod
    def parse(cls, llm: dict[str, Any]) -> LLMSpec:
        secret = llm.get("apiKeySecret") or {}
        prices = {str(m): ModelPrice(float(p["inputPerMTok"]), float(p["outputPerMTok"]),
                                     _float(p.get("cacheWritePerMTok")),
                                     _float(p.get("cacheReadPerMTok")), p.get("maxOutputTokens"))
                  for m, p in (llm.get("prices") or {}).items()}
        return cls(llm["model"], llm["maxTokens"], llm["reviewEvery"], secret.get("name"),
                   secret.get("key", "api-key"),
                   models={r: str(m) for r, m in (llm.get("models") or {}).items() if m},
                   prices=prices, prompt_budget_tokens=int(llm["promptBudgetTokens"]),
                   design_models=tuple(dict.fromkeys(str(m) for m in llm.get("designModels") or ())))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class SecretRef:
    """Keys of a Secret holding a user name and a token (`spec.git.credentialsSecret`)."""

    name: str
    username_key: str
    token_key: str


@dataclass(frozen=True)
class SandboxSpec:
    """Operator only: what sandbox Jobs run and where. Quantities are kept as the strings the
    pod spec takes (`cpu: 2` in YAML arrives as an integer)."""

    image: str
    cpu: str
    memory: str
    gpus: int
    gpu_resource_name: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    runtime_class_name: str | None
    work_dir_size_limit: str
    image_pull_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    namespace: str
    clips: tuple[str, ...]
    held_out: tuple[str, ...]
    anchor: str
    anchors: tuple[str, ...]
    target_bd_rate: float | None
    budget: Budget
    parallelism: int
    needs_human_holds_slot: bool
    planner: str
    base_codec: str
    seed: int
    llm: LLMSpec
    sandbox: SandboxSpec
    limits: Limits
    held_out_tolerance: float
    adoption_margin: float
    max_chroma_loss_db: float
    max_luma_loss_percent: float
    min_overlap: float
    cascade: bool
    screen_stop_above: float
    validation_timeout_s: int
    execution_timeout_s: int
    git_repo: str | None
    git_branch: str
    git_credentials: SecretRef | None
    finish_report: bool
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    search_per_design: int = 4
    """Hybrid planner: search experiments over each LLM program's declared parameters."""

    @property
    def uses_llm(self) -> bool:
        """The planner calls the Messages API (llm, hybrid): it needs a key and is priced."""
        return self.planner in ("llm", "hybrid")

    @classmethod
    def from_manifest(cls, doc: dict[str, Any]) -> CampaignSpec:
        """Build from a manifest; validates and defaults it first."""
        doc = validate(doc, "Campaign")
        meta = doc.get("metadata") or {}
        if not meta.get("name"):
            raise ManifestError("metadata.name: a Campaign needs a name")
        s = doc["spec"]
        _check_deadline(s["budget"].get("deadline"))
        ev, sb, git = s["evaluation"], s["sandbox"], s["git"]
        anchors = tuple(dict.fromkeys([s["goal"]["anchor"], *ev["anchors"]]))
        return cls(
            name=str(meta["name"]), namespace=str(meta.get("namespace") or "default"),
            clips=tuple(s["dataset"]["clips"]), held_out=tuple(s["dataset"].get("heldOut") or ()),
            anchor=s["goal"]["anchor"], anchors=anchors,
            target_bd_rate=s["goal"].get("targetBDRate"),
            budget=Budget(s["budget"]["maxExperiments"], float(s["budget"]["maxCostUSD"]),
                          s["budget"].get("deadline"), s["budget"].get("maxDurationMinutes"),
                          s["budget"].get("maxFailedExperiments"),
                          s["budget"].get("maxConsecutiveFailures")),
            parallelism=s["parallelism"], needs_human_holds_slot=bool(s["needsHumanHoldsSlot"]), planner=s["planner"], base_codec=s["baseCodec"],
            seed=s["seed"],
            llm=LLMSpec.parse(s["llm"]),
            sandbox=SandboxSpec(sb["image"], str(sb["cpu"]), str(sb["memory"]), sb["gpus"],
                                sb["gpuResourceName"], dict(sb.get("nodeSelector") or {}),
                                list(sb.get("tolerations") or []), sb.get("runtimeClassName"),
                                str(sb["workDirSizeLimit"]),
                                tuple(str(s["name"]) for s in sb.get("imagePullSecrets") or ())),
            limits=Limits(**s["retries"]),
            held_out_tolerance=float(ev["heldOutTolerance"]),
            adoption_margin=float(ev["adoptionMargin"]),
            max_chroma_loss_db=float(ev["maxChromaLossDB"]),
            max_luma_loss_percent=float(ev["maxLumaLossPercent"]), min_overlap=float(ev["minOverlap"]),
            cascade=bool(ev["cascade"]["enabled"]),
            screen_stop_above=float(ev["cascade"]["screenStopAbove"]),
            validation_timeout_s=ev["validationTimeoutSeconds"],
            execution_timeout_s=ev["executionTimeoutSeconds"],
            git_repo=git.get("repo"), git_branch=git["branch"],
            git_credentials=_secret_ref(git.get("credentialsSecret")),
            finish_report=s["finishUp"]["report"], raw=doc,
            search_per_design=int((s.get("hybrid") or {}).get("searchPerDesign", 4)),
        )


def _secret_ref(doc: dict[str, Any] | None) -> SecretRef | None:
    if not doc:
        return None
    return SecretRef(str(doc["name"]), str(doc.get("usernameKey", "username")),
                     str(doc.get("tokenKey", "token")))


def _check_deadline(text: str | None) -> None:
    """jsonschema skips `format: date-time` without an optional package; check it here."""
    if text is None:
        return
    try:
        when = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or "T" not in str(text).upper():
        raise ManifestError(f"spec.budget.deadline: {text!r} is not an RFC 3339 date-time "
                            "(e.g. 2026-01-31T18:00:00Z)")


def load_manifest_file(path: Path) -> dict[str, Any]:
    """Read one YAML document; clear errors for missing or unparsable files."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such file")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: expected one Campaign mapping")
    return doc


def load_campaign(path: Path) -> CampaignSpec:
    return CampaignSpec.from_manifest(load_manifest_file(path))
