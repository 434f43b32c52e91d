"""ipywidgets panels: controls wired to experiments and figures.

:mod:`labsock.widgets` is their public face. Every panel also runs once from
code with ``panel.run()``.
"""
