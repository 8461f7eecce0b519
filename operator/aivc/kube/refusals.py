"""When the API server refuses the operator: say what, where people look, and retry slowly.

A 4xx other than a conflict (409) or throttling (429) will not go away by retrying soon: a
missing permission (403 names the verb and resource), an object the server rejects (422
names the field), a missing namespace. The drivers turn one into a Warning Event and an
`ApiAccess=False` condition on the Campaign or Experiment, both carrying the request and the
server's message, and retry after `loops.refused_retry_seconds` (a minute); the condition
turns True again on the next tick that succeeds. A refused status patch cannot record its own condition, so the
Warning is posted first.
"""

from __future__ import annotations

from aivc.api.documents import Condition, condition
from aivc.api.types import ConditionType, Reason
from aivc.kube.client import ApiError
from aivc.store.base import StoreError


def refusal(exc: BaseException) -> ApiError | None:
    """The refusal behind `exc` (directly, or behind a store error), if it is one."""
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    if isinstance(cause, ApiError) and not cause.retryable:
        return cause
    return None


def refused(err: ApiError, retry_seconds: float) -> Condition:
    return condition(ConditionType.API_ACCESS, False, Reason.API_REFUSED,
                     f"the API server refused {err.request or 'a request'}: {err.status} "
                     f"{err.reason}: {err.message}; retrying every {retry_seconds:g} s until "
                     "it is fixed (permissions: the chart's RBAC; fields: the object's schema)")


ACCEPTED = condition(ConditionType.API_ACCESS, True, Reason.API_ACCEPTED,
                     "the API server accepts the operator's requests")
