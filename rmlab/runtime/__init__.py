"""Executors and sessions: ``open_session`` starts a pipeline; every executor has one API."""

from rmlab.runtime.session import Output, Session, open_session, warm_up
from rmlab.runtime.unary import execute, execute_pipeline, execute_pipeline_with_input

__all__ = [
    "Output",
    "Session",
    "execute",
    "execute_pipeline",
    "execute_pipeline_with_input",
    "open_session",
    "warm_up",
]
