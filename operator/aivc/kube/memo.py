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
    uid: str | None = None
    planner: Planner | None = None
    replayed: set[str] = field(default_factory=set)
    anchors: dict[str, dict[str, Any]] | None = None
    design_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    analysis_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    anchors_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    thread_lock: threading.Lock = field(default_factory=threading.Lock)


def refuse_volume_claim(spec: CampaignSpec) -> None:
    """`dataset.volumeClaim` is refused (a SpecValid=False condition) until it works end to
    end: sandbox pods could mount the claim, but the anchors and the clip cache are made in
    the operator's pod, which does not mount it, so every score would lack its anchor."""
    claim = ((spec.raw.get("spec") or {}).get("dataset") or {}).get("volumeClaim")
    if claim:
        raise ManifestError(f"spec.dataset.volumeClaim ({claim!r}) is not supported yet: the "
                            "operator computes x264/x265 anchors where it runs and cannot read "
                            "the claim; use the bundled clips (NAME[@START]:FRAMES[:WxH]) and "
                            "remove volumeClaim")


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
        self.reviewed: dict[str, int] = {}
        """Campaign UID → the generation whose edit `review_edit` acted on: events queued
        before that write still show the edit unreviewed and must not act on it twice."""

    def store(self, namespace: str) -> KubeStore:
        return KubeStore(self.api, namespace)

    def context(self, namespace: str, name: str, campaign: dict[str, Any]) -> CampaignContext:
        """The campaign's context; `ManifestError` if its spec is invalid.

        One per Campaign UID: a Campaign deleted and created again under the same name starts
        from nothing (no planner, no anchors, no locks of the old one). An edited spec (a new
        generation) is taken in place: locks, anchors and the planner live on, except that a
        changed `spec.llm` rebuilds the planner (another model, prices or key).
        """
        if len(name) > MAX_CAMPAIGN_NAME:  # the CRD's CEL rule, for API servers without CEL
            raise ManifestError(f"metadata.name: at most {MAX_CAMPAIGN_NAME} characters "
                                "(experiments are named <campaign>-NNNN and label values allow 63)")
        meta = campaign.get("metadata") or {}
        generation, uid = meta.get("generation"), meta.get("uid")
        ctx = self.contexts.get((namespace, name))
        if ctx is not None and ctx.uid == uid and ctx.generation == generation:
            return ctx
        spec = CampaignSpec.from_manifest({**campaign, "metadata": {**meta, "namespace": namespace}})
        refuse_volume_claim(spec)
        if ctx is None or ctx.uid != uid:
            ctx = CampaignContext(namespace, name, spec, generation, uid)
            self.contexts[(namespace, name)] = ctx
            return ctx
        if spec.llm != ctx.spec.llm and ctx.planner is not None:
            close = getattr(ctx.planner, "close", None)
            if callable(close):
                close()
            ctx.planner, ctx.replayed = None, set()
        ctx.spec, ctx.generation = spec, generation
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
        if not spec.uses_llm:
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
