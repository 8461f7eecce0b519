"""The bottom layer: the API group, the resource kinds and their typed documents.

Everything above (evaluate, sandbox, research, store, kube, observe, commands) may import
from here; nothing here imports from them. `crds` loads the CustomResourceDefinitions (the
single source of the resource shapes), `types` holds the closed vocabularies (phases,
verdicts, conditions, reasons, annotations), `documents` parses the stored documents once
into typed objects and writes them back, so CR keys appear in that one place.
"""

GROUP = "aivc.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
