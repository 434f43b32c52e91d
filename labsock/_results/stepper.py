"""The record of one step of the socket stepper: the call, what it returned or raised, and why.

Made by ``labsock._endpoints.stepper_machine.StepperMachine.step``; public as
``labsock.widgets.StepResult``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["StepResult"]


@dataclass(frozen=True)
class StepResult:
    """What one step did.

    Attributes:
        actor: ``"server"`` or ``"client"``.
        call: the call (``"bind"``, ``"connect"``, ...).
        ok: True when the call returned normally.
        value: what the call returned (``None`` for calls that return nothing
            or failed): the bytes of a ``recv``, the count of a ``send``, the
            client's address for ``accept``, the descriptor for ``socket``.
        message: what happened, in words, with the reason of an error.
        error: the real exception the call raised (``ConnectionRefusedError``,
            ``TimeoutError``, ...), or ``None``. ``None`` with ``ok`` False
            means the step could not even be tried (no such socket yet).
        code: the line of Python the step ran, e.g. ``server.listen()``.
    """

    actor: str
    call: str
    ok: bool
    value: Any = None
    message: str = ""
    error: BaseException | None = None
    code: str = ""

    def __str__(self) -> str:
        return f"{self.code or f'{self.actor}.{self.call}()'}: {self.message}"
