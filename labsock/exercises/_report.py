"""What a check says: a short list of criteria, each passed or failed, with a hint.

A :class:`Report` is a plain value: it renders as a small table in a notebook
(``_repr_html_``), as text (``str``), and as JSON (``to_json``) for a teacher
who collects results (:func:`export_results`).

Languages: a criterion's ``name`` and a report's ``title`` are English keys
(tests, nbgrader and the notebooks compare them), marked with ``N_`` where a
check writes them and translated where they are shown (:attr:`Criterion.shown`,
:attr:`Report.shown_title`). A name that holds a number is a :class:`Phrase`,
which keeps its template so it can be translated too. Hints, details and notes
are built by the check, in the language chosen when it ran. The JSON carries
both: the English key (``name``, ``title``) for a teacher who collects results
from both editions, and the words the student read (``shown_name``,
``shown_title``, the hints), with the ``language`` they are in.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labsock._core.errors import UsageError
from labsock._core.i18n import gettext as _
from labsock._core.i18n import language, ngettext
from labsock._results.practice import NOT_ATTEMPTED

__all__ = [
    "NOT_ATTEMPTED",
    "Criterion",
    "Phrase",
    "Report",
    "Score",
    "Status",
    "Summary",
    "export_results",
    "shown",
    "summarize",
]

Status = Literal["passed", "failed", "skipped"]


_MARKS = {"passed": "✓", "failed": "✗", "skipped": "–"}
_COLORS = {"passed": "#009E73", "failed": "#D55E00", "skipped": "#999999"}


class Phrase(str):
    """English text with a number in it that can still be said in the student's language.

    A criterion's name is an English key; most are constant and marked with
    ``N_``, but a few hold a value ("serves 50 clients at once"). A phrase *is*
    the English text (it compares, hashes and serializes as that ``str``) and
    keeps its template and values, so :func:`shown` can translate it.

    >>> name = Phrase("serves {n} clients at once", n=50)
    >>> name == "serves 50 clients at once", shown(name)
    (True, 'serves 50 clients at once')
    """

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Phrase:
        self = super().__new__(cls, template.format(**values))
        self.template = template
        self.values = values
        return self

    def translated(self) -> str:
        """The phrase in the current language (its template, translated, then filled in)."""
        return _(self.template).format(**self.values)


def shown(text: str) -> str:
    """``text`` (an English key marked with ``N_``, or a :class:`Phrase`) as a student reads it."""
    return text.translated() if isinstance(text, Phrase) else _(text)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One thing a check verified.

    Attributes:
        name: what was verified, phrased as what a good solution does
            ("serves a second client after the first one left"): an English
            key, the same in every language (:attr:`shown` is what a student
            reads).
        status: ``"passed"``, ``"failed"``, or ``"skipped"`` (not checked,
            because an earlier criterion it builds on failed).
        hint: for a failed or skipped criterion, the likely mistake and its fix.
        detail: what the check observed (numbers, the exception raised).
    """

    name: str
    status: Status
    hint: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def shown(self) -> str:
        """The name as a student reads it, in the current language."""
        return shown(self.name)

    def to_dict(self) -> dict[str, Any]:
        """The criterion for JSON: ``name`` is the English key, ``shown_name`` the words shown."""
        return {
            "name": str(self.name),
            "shown_name": self.shown,
            "status": self.status,
            "passed": self.passed,
            "hint": self.hint,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of one check (see ``labsock.exercises``).

    Attributes:
        exercise: a stable identifier, e.g. ``"echo_server"`` (JSON key).
        title: in English, e.g. ``"Exercise 1: a TCP echo server"``; a student
            reads :attr:`shown_title`.
        attempted: False while the starter code still raises
            ``NotImplementedError``; such a report has no criteria.
        criteria: what was checked, in the order it was checked.
        notes: what the check could not clean up, or could not verify here.
        elapsed: seconds the check took.

    Example:
        >>> r = Report("demo", "Demo", True, (Criterion("says hello", "passed"),))
        >>> r.passed, str(r).splitlines()[0]
        (True, 'Demo: passed (1 of 1 criterion)')
    """

    exercise: str
    title: str
    attempted: bool
    criteria: tuple[Criterion, ...] = ()
    notes: tuple[str, ...] = ()
    elapsed: float = 0.0
    created: float = field(default_factory=time.time, compare=False)

    @property
    def passed(self) -> bool:
        """True when the exercise was attempted and no criterion failed.

        A criterion is skipped either because one it builds on failed (then
        that one fails the report), or because this run could not judge it
        (no probe happened to need a second retry, say): that is not the
        student's fault, and does not fail the report.
        """
        return (
            self.attempted
            and any(c.passed for c in self.criteria)
            and not any(c.status == "failed" for c in self.criteria)
        )

    @property
    def failed(self) -> tuple[Criterion, ...]:
        """The criteria that did not pass (failed or skipped); none when the report passed."""
        if self.passed:
            return ()
        return tuple(c for c in self.criteria if not c.passed)

    def criterion(self, name: str) -> Criterion:
        """The criterion called ``name`` (raises ``KeyError`` if there is none)."""
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def shown_title(self) -> str:
        """The title as a student reads it, in the current language."""
        return shown(self.title)

    @property
    def status(self) -> str:
        """``"not attempted yet"``, ``"passed"`` or ``"failed"`` (as text)."""
        if not self.attempted:
            return NOT_ATTEMPTED
        return "passed" if self.passed else "failed"

    def _said_status(self) -> str:
        """:attr:`status` as a student reads it, in the current language (status stays data)."""
        if not self.attempted:
            return _("not attempted yet")
        return _("passed") if self.passed else _("failed")

    def _headline(self) -> str:
        if not self.attempted:
            return _("{title}: {status} (the starter code raises NotImplementedError)").format(
                title=self.shown_title, status=self._said_status()
            )
        good = sum(c.passed for c in self.criteria)
        return ngettext(
            "{title}: {status} ({good} of {n} criterion)",
            "{title}: {status} ({good} of {n} criteria)",
            len(self.criteria),
        ).format(
            title=self.shown_title, status=self._said_status(), good=good, n=len(self.criteria)
        )

    def __str__(self) -> str:
        lines = [self._headline()]
        for c in self.criteria:
            lines.append(f"  {_MARKS[c.status]} {c.shown}")
            if not c.passed and c.hint:
                lines.append("      " + _("hint: {hint}").format(hint=c.hint))
            if not c.passed and c.detail:
                lines.append("      " + _("seen: {detail}").format(detail=c.detail))
        lines.extend(f"  ! {note}" for note in self.notes)
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython's text/plain view (a console, a notebook exported as text).
        printer.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        color = "#999999" if not self.attempted else _COLORS["passed" if self.passed else "failed"]
        rows = []
        for c in self.criteria:
            explain = ""
            if not c.passed:
                parts = [esc(c.hint)] if c.hint else []
                if c.detail:
                    seen = _("seen: {detail}").format(detail=c.detail)
                    parts.append(f"<span style='color:#666'>{esc(seen)}</span>")
                explain = "<br>".join(parts)
            rows.append(
                f"<tr><td style='color:{_COLORS[c.status]};font-weight:bold;text-align:center'>"
                f"{_MARKS[c.status]}</td><td style='text-align:left'>{esc(c.shown)}</td>"
                f"<td style='text-align:left'>{explain}</td></tr>"
            )
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        table = (
            "<table><thead><tr><th></th>"
            f"<th style='text-align:left'>{esc(_('criterion'))}</th>"
            f"<th style='text-align:left'>{esc(_('hint'))}</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            if rows
            else ""
        )
        return (
            f"<div><p style='font-weight:bold;color:{color}'>{esc(self._headline())}</p>"
            f"{table}{f'<ul>{notes}</ul>' if notes else ''}</div>"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the exercise, its status, and every criterion.

        ``title``, ``status`` and each criterion's ``name`` are the same in
        every language (keys to compare); ``shown_title``, each
        ``shown_name``, the hints, details and notes are what the student
        read, in ``language``.
        """
        return {
            "exercise": self.exercise,
            "title": str(self.title),
            "shown_title": self.shown_title,
            "language": language(),
            "attempted": self.attempted,
            "passed": self.passed,
            "status": self.status,
            "criteria": [c.to_dict() for c in self.criteria],
            "notes": list(self.notes),
            "elapsed": round(self.elapsed, 3),
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.created)),
        }

    def to_json(self) -> str:
        """The report as JSON text (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def points(self, maximum: float) -> Score:
        """This report's points out of ``maximum``: an equal share for each criterion that held.

        What an nbgrader test cell ends with: nbgrader reads a cell's result
        as partial credit when its plain text is a number, and :class:`Score`
        shows as that number in plain text, and as the report with the points
        in a notebook. Unfinished work scores 0 without an error.

        Raises:
            UsageError: ``maximum`` is not a positive number.

        Example:
            >>> two = (Criterion("a", "passed"), Criterion("b", "failed"))
            >>> Report("demo", "Demo", True, two).points(4)
            2
        """
        if isinstance(maximum, bool) or not isinstance(maximum, (int, float)) or maximum <= 0:
            raise UsageError(
                _("points(maximum) needs a positive number, not {value}").format(
                    value=repr(maximum)
                )
            )
        good = sum(c.passed for c in self.criteria) if self.attempted else 0
        total = len(self.criteria)
        # Skips without any failure were this run's luck, not the student's doing.
        earned = maximum if self.passed else maximum * good / total if total else 0.0
        return Score(self, round(earned, 2), maximum)


@dataclass(frozen=True, slots=True, repr=False)
class Score:
    """The points a report earned (see :meth:`Report.points`).

    Its plain-text form is the number alone (``"5.25"``), which nbgrader
    takes as the cell's partial credit; in a notebook it shows the report
    with a line of points under it.
    """

    report: Report
    earned: float
    maximum: float

    def __repr__(self) -> str:
        return f"{self.earned:g}"

    def __float__(self) -> float:
        return float(self.earned)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def line(self) -> str:
        """``"points: 5 of 7"``, with a word on why when it is not all of them."""
        why = ""
        if not self.report.attempted:
            why = " ({})".format(_("not attempted yet"))
        elif self.earned < self.maximum:
            bad = len(self.report.failed)
            why = ngettext(
                " ({n} criterion to fix: see the hints)",
                " ({n} criteria to fix: see the hints)",
                bad,
            ).format(n=bad)
        return (
            _("points: {earned:g} of {maximum:g}").format(earned=self.earned, maximum=self.maximum)
            + why
        )

    def __str__(self) -> str:
        return f"{self.report}\n{self.line()}"

    def _repr_html_(self) -> str:
        return f"{self.report._repr_html_()}<p><b>{html.escape(self.line())}</b></p>"


@dataclass(frozen=True, slots=True)
class Summary:
    """One line per report: how far a student got (what ``summarize`` returns)."""

    reports: tuple[Report, ...]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.reports)

    def next_step(self) -> str:
        """What to work on next: the first criterion that fails, with its hint."""
        for r in self.reports:
            if r.attempted and not r.passed:
                first = r.failed[0] if r.failed else None
                if first is None:
                    return _("{title}: run its check again.").format(title=r.shown_title)
                hint = _(" Hint: {hint}").format(hint=first.hint) if first.hint else ""
                return (
                    _("{title}: fix \u201c{name}\u201d first.").format(
                        title=r.shown_title, name=first.shown
                    )
                    + hint
                )
        todo = [r for r in self.reports if not r.attempted]
        if todo:
            return _(
                "{title}: write it (its starter code still raises NotImplementedError)."
            ).format(title=todo[0].shown_title)
        return _("Every exercise passes: try the questions under \u201cTry it yourself\u201d.")

    def __str__(self) -> str:
        lines = [
            ngettext(
                "{passed} of {n} exercise passed",
                "{passed} of {n} exercises passed",
                len(self.reports),
            ).format(passed=self.passed, n=len(self.reports))
        ]
        for r in self.reports:
            good = sum(c.passed for c in r.criteria)
            where = f" ({good}/{len(r.criteria)})" if r.attempted else ""
            lines.append(f"  {r.shown_title}: {r._said_status()}{where}")
            lines.extend(f"      \u2717 {c.shown}" for c in r.failed)
        lines.append(_("next: {step}").format(step=self.next_step()))
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = []
        for r in self.reports:
            status = r._said_status()
            color = "#999999" if not r.attempted else _COLORS["passed" if r.passed else "failed"]
            good = sum(c.passed for c in r.criteria)
            count = f"{good} / {len(r.criteria)}" if r.attempted else ""
            failing = "<br>".join(f"\u2717 {esc(c.shown)}" for c in r.failed)
            rows.append(
                f"<tr><td style='text-align:left'>{esc(r.shown_title)}</td>"
                f"<td style='text-align:left;color:{color}'>{esc(status)}</td><td>{count}</td>"
                f"<td style='text-align:left'>{failing}</td></tr>"
            )
        passed = ngettext(
            "{passed} of {n} exercise passed",
            "{passed} of {n} exercises passed",
            len(self.reports),
        ).format(passed=self.passed, n=len(self.reports))
        return (
            f"<p><b>{esc(passed)}</b></p>"
            f"<table><thead><tr><th style='text-align:left'>{esc(_('exercise'))}</th>"
            f"<th style='text-align:left'>{esc(_('status'))}</th><th>{esc(_('criteria'))}</th>"
            f"<th style='text-align:left'>{esc(_('still failing'))}</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<p><b>{esc(_('Next:'))}</b> {esc(self.next_step())}</p>"
        )


def _checked(reports: Iterable[object]) -> tuple[Report, ...]:
    items = tuple(reports)
    for item in items:
        if not isinstance(item, Report):
            raise UsageError(
                _("expected the reports the check functions returned, got {type}").format(
                    type=type(item).__name__
                )
            )
    return items  # type: ignore[return-value]  # every item was checked above


def summarize(reports: Sequence[Report]) -> Summary:
    """A one-line-per-exercise overview of several reports.

    >>> print(summarize([Report("a", "Exercise A", False)]))
    0 of 1 exercise passed
      Exercise A: not attempted yet
    next: Exercise A: write it (its starter code still raises NotImplementedError).
    """
    return Summary(_checked(reports))


def export_results(reports: Iterable[Report], path: str | Path) -> Path:
    """Write every report, per exercise and per criterion, to a JSON file.

    The file holds ``{"format": "labsock-practice/1", "passed": k, "total": n,
    "exercises": {exercise: report.to_dict(), ...}}``; a later report for the
    same exercise replaces an earlier one. Returns the path written.

    Whichever edition the student used, ``title``, ``status`` and each
    criterion's ``name`` are the English keys (results from both editions
    compare directly); ``shown_title``, ``shown_name``, the hints, details
    and notes are the words the student read, in ``language`` (``"en"``,
    ``"pt_BR"``).

    Raises:
        UsageError: something other than a :class:`Report` was given.
        OSError: the file cannot be written.

    Example:
        >>> import json, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = export_results([Report("a", "Exercise A", False)], Path(folder) / "r.json")
        ...     json.loads(path.read_text())["exercises"]["a"]["status"]
        'not attempted yet'
    """
    items = _checked(reports)
    exercises = {r.exercise: r.to_dict() for r in items}
    document = {
        "format": "labsock-practice/1",
        "passed": sum(e["passed"] for e in exercises.values()),
        "total": len(exercises),
        "exercises": exercises,
    }
    target = Path(path).resolve()
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
