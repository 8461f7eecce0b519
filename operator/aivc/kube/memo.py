"""What the handlers share: the API client, injectable collaborators, per-campaign contexts.

kopf hands every handler a shallow copy of the operator's memo, so the objects below are
shared by all of them. Tests inject their own planner factory, anchor source or credentials
here (never by patching module globals).

A `CampaignContext` is the in-memory side of one Campaign: its parsed spec, its planner
(built on first use and replayed from the finished experiments, so it survives restarts
without keeping state of its own), anchor curves, and two locks. Design calls are
serialized per campaign because planners are not thread-safe; analyses are serialized so
that two experiments finishing together cannot both become the same version.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import kopf

from aivc import settings as settings_mod
from aivc.api.documents import ExperimentDoc
from aivc.api.spec import CampaignSpec, ManifestError
from aivc.errors import AivcError
from aivc.kube.client import SECRETS, KubeApi, NotFound
from aivc.kube.settings import OperatorConfig
from aivc.kube.store import KubeStore
from aivc.research import anchoring, history
from aivc.research.planning import Planner, make_planner
from aivc.vcs.evolution import GitCredentials

MAX_CAMPAIGN_NAME = 52
PlannerFactory = Callable[[CampaignSpec, settings_mod.Settings], Planner]
AnchorSource = Callable[[CampaignSpec, Path], dict[str, dict[str, Any]]]
Credentials = Callable[..., kopf.ConnectionInfo | None]


def compute_anchors(spec: CampaignSpec, cache_dir: Path) -> dict[str, dict[str, Any]]:
    """Anchor curves of every campaign and held-out clip (ffmpeg; cached on disk)."""
    return dict(anchoring.campaign_anchors(spec, cache_dir))


def incluster_or_kubeconfig(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's own logins: the pod's service account, else the local kubeconfig."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@dataclass
class CampaignContext:
    namespace: str
    name: str
    spec: CampaignSpec
    generation: Any
    planner: Planner | None = None
    replayed: set[str] = field(default_factory=set)
    anchors: dict[str, dict[str, Any]] | None = None
    design_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    analysis_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    anchors_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    thread_lock: threading.Lock = field(default_factory=threading.Lock)


class OperatorMemo(kopf.Memo):
    """The operator-wide memo (see the module docstring); attribute access like `kopf.Memo`."""

    def __init__(self, config: OperatorConfig, *, planner_factory: PlannerFactory = make_planner,
                 anchors: AnchorSource = compute_anchors, credentials: Credentials = incluster_or_kubeconfig,
                 settings: settings_mod.Settings | None = None) -> None:
        super().__init__()
        self.config = config
        self.api = KubeApi()
        self.planner_factory = planner_factory
        self.anchor_source = anchors
        self.credentials = credentials
        self.settings = settings or settings_mod.Settings(
            paths=settings_mod.PathSettings(cache_dir=config.data_dir / "cache"))
        self.contexts: dict[tuple[str, str], CampaignContext] = {}

    def store(self, namespace: str) -> KubeStore:
        return KubeStore(self.api, namespace)

    def context(self, namespace: str, name: str, campaign: dict[str, Any]) -> CampaignContext:
        """The campaign's context, (re)built when its spec changed; `ManifestError` if invalid."""
        if len(name) > MAX_CAMPAIGN_NAME:  # the CRD's CEL rule, for API servers without CEL
            raise ManifestError(f"metadata.name: at most {MAX_CAMPAIGN_NAME} characters "
                                "(experiments are named <campaign>-NNNN and label values allow 63)")
        generation = (campaign.get("metadata") or {}).get("generation")
        ctx = self.contexts.get((namespace, name))
        if ctx is None or ctx.generation != generation:
            doc = {**campaign, "metadata": {**campaign["metadata"], "namespace": namespace}}
            ctx = CampaignContext(namespace, name, CampaignSpec.from_manifest(doc), generation)
            self.contexts[(namespace, name)] = ctx
        return ctx

    def forget(self, namespace: str, name: str) -> None:
        self.contexts.pop((namespace, name), None)

    async def planner(self, ctx: CampaignContext, experiments: list[ExperimentDoc]) -> Planner:
        """The campaign's planner, built on first use and replayed from finished experiments."""
        if ctx.planner is None:
            settings = await self._settings_for(ctx.spec)
            try:
                planner = self.planner_factory(ctx.spec, settings)
            except AivcError as exc:
                raise ManifestError(str(exc)) from None
            done = [e for e in experiments if e.status.finished]
            await asyncio.to_thread(planner.replay, history.outcomes(done))
            ctx.planner, ctx.replayed = planner, {e.name for e in done}
        return ctx.planner

    async def _settings_for(self, spec: CampaignSpec) -> settings_mod.Settings:
        """The LLM key comes from the Secret the Campaign names, never from the environment."""
        if spec.planner != "llm":
            return self.settings
        if not spec.llm.secret_name:
            raise ManifestError("spec.llm.apiKeySecret: the llm planner needs a Secret with the API key")
        try:
            secret = await self.api.get(SECRETS, spec.namespace, spec.llm.secret_name)
        except NotFound:
            raise ManifestError(f"spec.llm.apiKeySecret: Secret {spec.llm.secret_name!r} not found "
                                f"in namespace {spec.namespace}") from None
        raw = (secret.get("data") or {}).get(spec.llm.secret_key)
        if not raw:
            raise ManifestError(f"spec.llm.apiKeySecret: Secret {spec.llm.secret_name!r} has no "
                                f"key {spec.llm.secret_key!r}")
        key = base64.b64decode(raw).decode().strip()
        return replace(self.settings, llm=replace(self.settings.llm, api_key=key))

    async def git_credentials(self, ctx: CampaignContext) -> GitCredentials | None:
        """The user name and token from the Secret `spec.git.credentialsSecret` names."""
        ref = ctx.spec.git_credentials
        if ref is None:
            return None
        where = f"spec.git.credentialsSecret: Secret {ref.name!r}"
        try:
            secret = await self.api.get(SECRETS, ctx.spec.namespace, ref.name)
        except NotFound:
            raise ManifestError(f"{where} not found in namespace {ctx.spec.namespace}") from None
        data = secret.get("data") or {}
        values = {}
        for key in (ref.username_key, ref.token_key):
            if not data.get(key):
                raise ManifestError(f"{where} has no key {key!r}")
            values[key] = base64.b64decode(data[key]).decode().strip()
        return GitCredentials(values[ref.username_key], values[ref.token_key])

    async def anchors(self, ctx: CampaignContext) -> dict[str, dict[str, Any]]:
        async with ctx.anchors_lock:
            if ctx.anchors is None:
                cache = self.settings.paths.cache_dir
                ctx.anchors = await asyncio.to_thread(self.anchor_source, ctx.spec, cache)
        return ctx.anchors
