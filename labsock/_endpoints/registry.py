"""Every live endpoint, so that nothing outlives the cell or the kernel that made it.

Students re-run cells all the time. When a cell that started a server runs
again, the server it started last time must go first, or the new one fails
with "Address already in use" and the old thread lives on as an orphan.

How a cell is recognised: in IPython (Jupyter kernels included) a
``pre_run_cell`` hook notes which cell is about to run, by its ``cell_id``
where the front end sends one (JupyterLab and Notebook 7 do, from the
execution request's ``cellId``) and by its source text otherwise. The cell
running when labsock first registers an endpoint (the hook did not exist yet
when it started) is read from the execution IPython has under way, id
included. Every endpoint remembers the cell that created it; when that cell
runs again, edited or not, those endpoints are closed before any of its code
runs. Several endpoints made by one cell therefore live side by side, and
endpoints made by other cells are left alone. Outside IPython nothing is
closed implicitly.

Front ends that send no cell id (the classic Notebook before 7, some
editors, a terminal IPython): a cell is known by its source alone, so an
*edited* cell is a new cell to labsock, and what its old version made stays
alive (a fixed port stays taken) until ``labsock.close_all()``. To keep that
leak bounded, endpoints of at most :data:`MAX_UNNAMED_CELLS` such cells stay
alive; past that, those of the cell that made its endpoints longest ago are
closed, with a :class:`StaleEndpointWarning` that says so.

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
import warnings
from typing import Any, Protocol

from labsock._core.i18n import gettext as _

__all__ = [
    "MAX_UNNAMED_CELLS",
    "Closable",
    "StaleEndpointWarning",
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


class StaleEndpointWarning(UserWarning):
    """Endpoints of an old cell were closed to keep a front end without cell ids from leaking."""


#: Cells known by their source alone (no cell id) whose endpoints stay alive.
MAX_UNNAMED_CELLS = 16


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
    # using labsock). IPython keeps the execution under way, with the cell's
    # id where the front end sent one: without the id, editing this cell
    # would leave what it made alive.
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    key = _cell_key(getattr(result, "info", None))
    if key is None:
        # Older IPython: at least the source, from the history stored before it ran.
        history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        if history:
            key = (None, history[-1].strip() or None)
    _current_cell = key


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
    cell = _current_cell
    with _lock:
        _live[endpoint] = cell
        stale = _beyond_unnamed_limit(cell)
    for old in stale:
        warnings.warn(
            _(
                "closed {endpoint!r}: it was made by a cell this front end did not identify, "
                "and endpoints of at most {limit} such cells stay alive (an "
                "edited cell counts as a new one without a cell id). Use JupyterLab, or "
                "labsock.close_all() before re-running edited cells."
            ).format(endpoint=old, limit=MAX_UNNAMED_CELLS),
            StaleEndpointWarning,
            stacklevel=3,
        )
        _close_quietly(old)


def _beyond_unnamed_limit(cell: CellKey | None) -> list[Closable]:
    """Endpoints of the oldest id-less cells past MAX_UNNAMED_CELLS (under the lock)."""
    if cell is None or cell[0] is not None:
        return []
    unnamed: dict[CellKey, None] = {}  # id-less cells, oldest endpoint first
    for key in _live.values():
        if key is not None and key[0] is None:
            unnamed[key] = None
    excess = len(unnamed) - MAX_UNNAMED_CELLS
    if excess <= 0:
        return []
    oldest = [key for key in unnamed if key != cell][:excess]
    return [ep for ep, key in _live.items() if key in oldest]


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
