"""Open a notebook as a Voila app in the lab's browser (for the browser tests).

Voila runs every cell and shows only the outputs, through the Lab server's Voila
extension (``/voila/render/<path>``). The Voila kernel outlives the page; the ``lab``
fixture deletes it at the end of the test.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import nbformat

from tests.browser.conftest import Lab

__all__ = ["voila_page"]


@contextlib.contextmanager
def voila_page(lab: Lab, code: str, width: int, height: int) -> Iterator[tuple[Any, list[str]]]:
    """A page showing a one-cell notebook of ``code`` in Voila, at ``width`` x
    ``height``, and the list its uncaught page errors are collected in."""
    server = lab.server
    path = f"voila-{uuid.uuid4().hex[:8]}.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, server.root / path)
    context = lab.browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/voila/render/{path}?token={server.token}")
        yield page, errors
    finally:
        context.close()
