"""The Kubernetes operator: a kopf driver of the research loop (`aivc operator`).

Design, in the terms of DESIGN.md §2 (module by module below):

- One phase machine. Each Experiment in flight gets a kopf daemon (`experiment.py`) that
  drives `aivc.research.phases` exactly as local mode does: read the state from the status,
  do the work the phase owes (`phases.resume_action`), feed the observed event to `step`,
  persist the transition in one status patch. Design and analysis are local mode's own
  steps (`research.labwork`) run in a worker thread against the Kubernetes store
  (`aivc.kube.store`). Campaigns get a daemon too (`campaign.py`): it creates Experiments
  as the shared scheduler allows and keeps the Campaign's status.
- State lives only in the API. The daemon is the single writer of its Experiment's status,
  and everything it owes is derived from that status, so a restart at any instant — crash,
  rolling update, peering hand-over — carries on. Jobs and Experiments have deterministic
  names (`<experiment>-val|run<generation>`, `<campaign>-<sequence:04d>`); creation is
  create-or-adopt: a 409 means "already made, by us", checked through owner references.
- Untrusted code runs only in sandbox Jobs (`jobs.py`): Pod Security "restricted", no
  service-account token, no Secret, no service links, read-only root, a size-limited
  `emptyDir`, `backoffLimit: 0` (retries belong to the phase machine), a deadline. The
  planner (with the LLM key read from the Secret the Campaign names), git commits and the
  analysis run in the operator.
- Results channel. The sandbox pod cannot write to the API (no token), so results come back
  the two ways a pod has: the harness writes the compact summary (< 4 KiB: pass/fail,
  candidate sha, per clip/level kbps, PSNR-Y, SSIM-Y, first error) to the termination
  message, and prints the full results JSON on stdout, which the operator reads from the
  pod log. The termination message is the authority on pass/fail and on which candidate was
  measured; the log gives every number. If the log is gone (node lost) the summary's rows
  stand in and `status.resultsSource` says so. Full results land in `status.results`.
- Cleanup is the garbage collector's: Jobs, their Pods and the codec ConfigMap carry owner
  references to their Experiment, and Experiments to their Campaign, so deleting either
  removes everything below it even while the operator is down. There is no finalizer of
  our own, but kopf puts one (`aivc.dev/daemon`) on every object whose daemon runs — a
  running Campaign, an Experiment in flight or with an adoption still to commit — so it can
  stop the daemon before the object goes. Finished ones carry none. With the operator
  uninstalled, nobody removes it and deleting such an object waits forever: the chart's
  pre-delete hook (`uninstalling`) refuses to uninstall while any exists, and
  docs/runbook.md has the recovery command.
- Retries. API conflicts (409), throttling (429), server and connection errors become
  `kopf.TemporaryError` with a short delay; kopf restarts the daemon, which resumes from the
  status. Problems a person must fix (a missing Secret, an unknown base codec) post one
  Warning Event and retry slowly. A Campaign whose spec is invalid is marked Failed
  (`SpecValid=False`, the message names the field) and gets `kopf.PermanentError`.
- One active operator. The chart deploys kopf's peering object (`KopfPeering` per watched
  namespace, or `ClusterKopfPeering` cluster-wide) and one replica. kopf peering is not a hot
  standby: an operator pauses while it sees one of a higher priority alive, and operators of
  the same priority all pause. A second operator (e.g. a copy under a debugger) needs a
  priority of its own; the higher one works.
- People. Every phase change posts an Event; conditions (Designed, Validated, Executed,
  Analyzed, NeedsHuman, Committed) say why. A NeedsHuman experiment moves only on
  `kubectl annotate experiment NAME aivc.dev/decision=retry|skip|adopt|reject`
  (`annotations.py`): the decision, who (field manager) and when land in `status.decision`,
  the annotations are removed, and invalid values get a Warning listing the choices.
- Permissions: `permissions.REQUIRED_PERMISSIONS` lists every call, kopf's included; the
  chart's RBAC is generated from it and the tests prove it sufficient and minimal.

Modules: `running` (registry, settings, login), `campaign`, `experiment`, `stages` (the
work of each phase), `jobs` (manifest builders), `outcomes` (Job + Pod → event), `client`
(the API calls the operator makes itself), `memo` (shared state, injection points),
`annotations`, `events`, `permissions`, `settings`, `uninstalling` (the chart's pre-delete
check), and, for tests and the benchmark only,
`emulator` (an API server on kmock) and `podrunner` (the Job controller and kubelet it lacks).
"""
