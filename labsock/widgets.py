"""Interactive panels: controls -> a real experiment -> plots and a table.

Each panel is a small class holding its ipywidgets. Display it (make it the
last expression of a cell) to get the controls; call ``panel.run()`` to run
it once from code with the current values, which is what the notebooks' tests
do. Runs happen in the kernel's main thread, on the button's click: figures
are drawn in one place (matplotlib is not thread-safe) and shown as PNG
images, and no background thread ever prints.

Importing this module imports ipywidgets and matplotlib; ``import labsock``
alone does not.
"""

from labsock._panels.base import Panel
from labsock._panels.link_lab import LinkLab
from labsock._panels.multicast_lab import MulticastLab
from labsock._panels.stepper import SocketStepper, StepResult

__all__ = ["LinkLab", "MulticastLab", "Panel", "SocketStepper", "StepResult"]
