"""The shared-memory executor: one process per node, frames over iceoryx2 (see executor.py)."""
