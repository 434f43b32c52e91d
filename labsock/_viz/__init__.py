"""Figure builders (matplotlib, object-oriented API, no pyplot state).

They read results and return Figures; they never start or touch endpoints.
:mod:`labsock.plots` is their public face.
"""
