"""The Ray tests: the wrapper here runs the real ones inside a private network namespace.

``test_namespace.py`` runs ``tests/ray/inside`` and the conformance suite (on the
``ray`` and ``shm+ray`` executors) in ``unshare -n``, where Ray keeps to loopback.
Outside that run, ``inside/`` is not collected: its tests need the cluster the
wrapper starts there.
"""

from __future__ import annotations

import os

INSIDE = os.environ.get("RMLAB_RAY_NAMESPACE") == "1"
"""True in the run inside the namespace."""

collect_ignore = [] if INSIDE else ["inside"]
