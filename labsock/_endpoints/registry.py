"""Every live endpoint, so that nothing outlives the cell or the kernel that made it.

Students re-run cells all the time. When a cell that started a server runs
again, the server it started last time must go first, or the new one fails
with "Address already in use" and the old thread lives on as an orphan.

How a cell is recognised: in IPython (Jupyter kernels included) a
``pre_run_cell`` hook notes which cell is about to run, by its ``cell_id``
where the front end sends one (JupyterLab does) and by its source text
otherwise. Every endpoint remembers the cell that created it; when that cell
runs again, those endpoints are closed before any of its code runs. Several
endpoints made by one cell therefore live side by side, and endpoints made by
other cells are left alone. Outside IPython nothing is closed implicitly.

Interactive panels (``labsock.widgets``) are tracked the same way, apart
from the endpoints: re-running the cell that made a panel closes the old
panel's widgets (and whatever the panel owns), but ``live_endpoints()``
lists only endpoints, so a lesson can check that its experiments cleaned up
while its panels stay live.

``close_all()`` stops everything; an ``atexit`` hook does the same at kernel
shutdown.
"""

from __future__ import annotations

import atexit
import sys
import threading
from typing import Any, Protocol

__all__ = [
    "Closable",
    "close_all",
    "current_cell",
    "live_endpoints",
    "register",
    "register_panel",
    "unregister",
    "unregister_panel",
]


class Closable(Protocol):
    def close(self) -> None: ...


_lock = threading.Lock()
# A cell is known by (cell_id, source); either may be missing.
CellKey = tuple[str | None, str | None]

# Insertion-ordered; value is the cell that created the endpoint.
_live: dict[Closable, CellKey | None] = {}
# Panels, likewise (kept apart: they are not endpoints).
_panels: dict[Closable, CellKey | None] = {}
_current_cell: CellKey | None = None
_hook_installed = False


def _cell_key(info: Any) -> CellKey | None:
    cell_id = getattr(info, "cell_id", None) or None
    source = getattr(info, "raw_cell", None)
    source = source.strip() if isinstance(source, str) and source.strip() else None
    if cell_id is None and source is None:
        return None
    return (cell_id, source)


def same_cell(a: CellKey | None, b: CellKey | None) -> bool:
    """Same cell: same id where both have one, else same source text."""
    if a is None or b is None:
        return False
    if a[0] is not None and b[0] is not None:
        return a[0] == b[0]
    return a[1] is not None and a[1] == b[1]


def _pre_run_cell(info: Any) -> None:
    global _current_cell
    key = _cell_key(info)
    _current_cell = key
    if key is None:
        return
    with _lock:
        panels = [p for p, cell in _panels.items() if same_cell(cell, key)]
        stale = [ep for ep, cell in _live.items() if same_cell(cell, key)]
    for closable in panels + stale:
        _close_quietly(closable)


def _install_hook() -> None:
    """Hook into IPython once, if we run inside it."""
    global _hook_installed, _current_cell
    if _hook_installed:
        return
    # Inside a kernel IPython is already imported; outside we must not pay
    # for importing it, nor hook into a shell that does not exist.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    _hook_installed = True
    shell.events.register("pre_run_cell", _pre_run_cell)
    # The hook missed the cell that is running now (the one importing or first
    # using labsock): recover its source from the history, stored before it ran.
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if history:
        _current_cell = (None, history[-1].strip() or None)


def _close_quietly(endpoint: Closable) -> None:
    # A re-run must not fail because the old endpoint's worker had met an
    # error; that error was the old run's business, and is still in .errors.
    try:
        endpoint.close()
    except Exception:
        pass


def register(endpoint: Closable) -> None:
    """Track a new endpoint, tagged with the cell now running."""
    _install_hook()
    with _lock:
        _live[endpoint] = _current_cell


def unregister(endpoint: Closable) -> None:
    """Forget an endpoint (called by its ``close()``)."""
    with _lock:
        _live.pop(endpoint, None)


def register_panel(panel: Closable) -> None:
    """Track a new panel, tagged with the cell now running."""
    _install_hook()
    with _lock:
        _panels[panel] = _current_cell


def unregister_panel(panel: Closable) -> None:
    """Forget a panel (called by its ``close()``)."""
    with _lock:
        _panels.pop(panel, None)


def current_cell() -> CellKey | None:
    """The key of the cell now running, or None outside IPython."""
    return _current_cell


def live_endpoints() -> list[Closable]:
    """Endpoints not yet closed, oldest first."""
    with _lock:
        return list(_live)


def close_all() -> int:
    """Close every panel and every live endpoint, newest first; return how many endpoints.

    >>> import labsock
    >>> labsock.close_all()
    0
    """
    with _lock:
        panels = list(_panels)[::-1]
        endpoints = list(_live)[::-1]
    for closable in panels + endpoints:
        _close_quietly(closable)
    return len(endpoints)


atexit.register(close_all)
