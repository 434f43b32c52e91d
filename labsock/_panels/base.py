"""What every interactive panel shares: Run button, status line, display, close.

Private plumbing for ``labsock.widgets``; imports ipywidgets.
"""

from __future__ import annotations

import html
from typing import Any, Generic, TypeVar

import ipywidgets as w

from labsock._core.errors import LabsockError
from labsock._core.formatting import html_table
from labsock._endpoints import registry as _registry

__all__ = ["PERCENT", "Panel", "close_tree", "html_table", "png"]

PERCENT: dict[str, Any] = {"readout_format": ".0%", "min": 0.0, "max": 1.0, "step": 0.01}

R = TypeVar("R")


class Panel(Generic[R]):
    """What every panel shares: a layout, a Run button, a status line, close()."""

    def __init__(self) -> None:
        self.status = w.HTML()
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.run_button.on_click(lambda _b: self._clicked())
        self.last: R | None = None
        self.widget: w.Widget = w.VBox()
        # Re-running the cell that made the panel, or close_all(), closes it.
        _registry.register_panel(self)

    def run(self) -> R:
        """Run once with the current control values; update the view; return the result."""
        raise NotImplementedError

    def _clicked(self) -> None:
        # A click must never raise into the widget machinery (the traceback
        # would land in whichever cell ran last): show the error instead.
        try:
            self.run()
        except LabsockError as exc:
            self._say(f"<b>Could not run:</b> {html.escape(str(exc))}", error=True)

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#D55E00" if error else "inherit"
        self.status.value = f"<span style='color:{colour}'>{text}</span>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Close the widgets (and any endpoint the panel holds)."""
        try:
            close_tree(self.widget)
        finally:
            _registry.unregister_panel(self)


def close_tree(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()


def png(fig: Any) -> bytes:
    """A figure as PNG bytes for an ``ipywidgets.Image``."""
    from labsock._viz import figures as plots

    return plots.to_png(fig)
