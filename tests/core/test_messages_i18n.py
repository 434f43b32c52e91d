"""labsock's own messages in Portuguese: the catalog is complete, current, and used.

The catalog is ``labsock/locale/pt_BR/LC_MESSAGES/labsock.po`` (compiled to
``labsock.mo``), kept by ``scripts/i18n_messages.py`` (``make translations``).
"""

from __future__ import annotations

import ast
import errno
import sys
from collections.abc import Iterator
from pathlib import Path

import polib
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

import labsock
from labsock._core import errors
from labsock._core.errors import translate_oserror
from labsock._panels.link_lab import LinkLab
from labsock._panels.stepper import SocketStepper
from labsock._results.ping import PingResult
from labsock._viz import figures
from tests.helpers import make_result

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import i18n_messages as tool  # noqa: E402

pytestmark = pytest.mark.usefixtures("fonts_loaded")  # figures drawn: fonts open once

PO = tool.LOCALE / "pt_BR" / "LC_MESSAGES" / "labsock.po"


@pytest.fixture
def portuguese() -> Iterator[None]:
    labsock.set_language("pt_BR")
    yield
    labsock.set_language("en")


@pytest.fixture(scope="module")
def catalog() -> polib.POFile:
    return polib.pofile(str(PO))


def a_ping() -> PingResult:
    """Ten probes, probe 3 lost, 6 and 5 swapped: something in every plot."""
    return make_result(10, [0, 1, 2, 4, 6, 5, 7, 8, 9], rtt=lambda seq: 0.002)


def words(fig: Figure) -> str:
    """Every text drawn in ``fig`` (titles, axis labels, legends, notes), one string."""
    try:
        return "\n".join(t.get_text() for t in fig.findobj(Text))
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_every_message_in_the_code_has_a_current_translation(catalog: polib.POFile) -> None:
    done = tool.translations_by_msgid(catalog)
    missing = [m.msgid for m in tool.extract() if m.msgid not in done]
    assert not missing, f"no current pt_BR translation (run make translations): {missing}"
    assert len(done) > 50  # the figures, panels and results, not an empty catalog


def test_the_committed_mo_is_the_po_compiled(catalog: polib.POFile, tmp_path: Path) -> None:
    fresh = tmp_path / "labsock.mo"
    tool.compile_catalog(catalog, fresh)
    committed = polib.mofile(str(PO.with_suffix(".mo")))
    assert tool.translations(committed) == tool.translations(polib.mofile(str(fresh)))


def test_placeholders_survive_translation(catalog: polib.POFile) -> None:
    assert not tool.placeholder_problems(catalog)


def test_a_changed_placeholder_is_caught() -> None:
    po = polib.POFile()
    po.append(polib.POEntry(msgid="{lost:,} of {sent} lost", msgstr="{perdidos} de {sent}"))
    po.append(polib.POEntry(msgid="%s lost", msgstr="%d perdidos"))
    po.append(polib.POEntry(msgid="{n:,} lost", msgstr="{n:,} perdidos"))
    assert len(tool.placeholder_problems(po)) == 2


def test_the_pot_is_current() -> None:
    committed = polib.pofile(str(tool.POT))
    assert tool._entries(committed) == tool._entries(tool.template(tool.extract())), (
        "labsock/locale/labsock.pot is stale: run make translations"
    )


def test_a_changed_message_keeps_its_old_translation_as_fuzzy() -> None:
    old = polib.POFile()
    old.append(polib.POEntry(msgid="{n:,} probes lost", msgstr="{n:,} sondas perdidas"))
    old.append(polib.POEntry(msgid="round trip", msgstr="ida e volta"))
    pot = tool.template(
        [
            tool.Message("{n:,} probes were lost", None, ("x.py",)),
            tool.Message("round trip", None, ("x.py",)),
        ]
    )
    merged = {e.msgid: e for e in tool.merge(pot, old, "pt_BR")}
    changed = merged["{n:,} probes were lost"]
    assert "fuzzy" in changed.flags
    assert changed.msgstr == "{n:,} sondas perdidas"
    assert changed.previous_msgid == "{n:,} probes lost"
    assert "fuzzy" not in merged["round trip"].flags
    assert tool.translations_by_msgid(tool.merge(pot, old, "pt_BR")) == {"round trip"}


@pytest.mark.usefixtures("portuguese")
def test_a_figure_speaks_portuguese_then_english_again() -> None:
    result = a_ping()
    text = words(figures.latency(result))
    assert "Tempos de ida e volta UDP: 9 de 10 sondas respondidas" in text
    assert "idas e voltas" in text
    assert "tempo de ida e volta (µs)" in text or "tempo de ida e volta (ms)" in text
    assert "respostas" in text
    assert "round-trip" not in text
    text = words(figures.ordering(result))
    assert "ordem perfeita" in text
    assert "fora de ordem (1)" in text
    assert "perdidas (1, no eixo y)" in text
    labsock.set_language("en")
    text = words(figures.latency(result))
    assert "UDP round-trip times: 9 of 10 probes answered" in text
    assert "Tempos" not in text


@pytest.mark.usefixtures("portuguese")
def test_a_result_summary_speaks_portuguese() -> None:
    text = a_ping().summary()
    assert "Ping UDP 127.0.0.1:9: 10 sondas de 64 bytes, respondidas: 9, perdidas: 1" in text
    assert "mediana" in text
    assert "fora de ordem: 1" in text


@pytest.mark.usefixtures("portuguese")
def test_a_panel_speaks_portuguese_then_english_again() -> None:
    lab = LinkLab(protocol="tcp")
    try:
        assert lab.run_button.description == "Executar"
        assert lab.delay.description == "atraso (ms)"
        assert lab.count.description == "sondas"
        assert "só o atraso" in lab.status.value
    finally:
        lab.close()
    labsock.set_language("en")
    lab = LinkLab()
    try:
        assert (lab.run_button.description, lab.delay.description) == ("Run", "delay (ms)")
    finally:
        lab.close()


@pytest.fixture(scope="module")
def sequence_fonts(fonts_loaded: None) -> None:
    """Draw one sequence diagram before the leak check counts descriptors.

    Its bold and oblique fonts stay open for the life of the process once drawn
    (as tests/panels/test_panels.py's ``panel_fonts`` explains).
    """
    stepper = SocketStepper()
    try:
        stepper.run()
    finally:
        stepper.close()


@pytest.mark.usefixtures("sequence_fonts", "portuguese")
def test_the_stepper_explains_in_portuguese() -> None:
    stepper = SocketStepper("tcp")
    try:
        assert stepper.run_button.description == "conversa inteira"
        refused = stepper.step("client", "connect", draw=False)
        assert refused.message == "ainda não há socket client: pressione client.socket antes"
        made = stepper.step("server", "socket", draw=False)
        assert made.message.startswith("um novo socket TCP (descritor de arquivo ")
        stepper.step("server", "bind", draw=False)
        stepper.step("server", "listen", draw=False)
        text = words(figures.sequence(stepper.trace))
        assert "O que realmente aconteceu: 3 chamadas de socket por server" in text
        assert "(socket em modo passivo)" in text
    finally:
        stepper.close()


@pytest.mark.usefixtures("portuguese")
def test_an_error_speaks_portuguese_with_its_action_translated() -> None:
    err = translate_oserror(
        OSError(errno.EADDRINUSE, "Address in use"), action="bind", address=("127.0.0.1", 80)
    )
    assert str(err).startswith(
        "não foi possível fazer bind em 127.0.0.1:80: o endereço já está em uso"
    )
    assert "use port=0" in str(
        translate_oserror(
            PermissionError(errno.EACCES, "denied"), action="bind", address=("127.0.0.1", 80)
        )
    )


def test_every_action_labsock_names_is_marked_for_translation() -> None:
    actions = set()
    for path in tool.PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                "os_errors",
                "translate_oserror",
            ):
                given = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "action")]
                actions |= {a.value for a in given if isinstance(a, ast.Constant)}
    assert actions, "found no os_errors(...) call: has the boundary moved?"
    assert actions <= set(errors._ACTIONS), sorted(actions - set(errors._ACTIONS))


def test_every_error_and_practice_report_a_student_reads_is_marked() -> None:
    found = tool.unmarked()
    assert not found, "English only (wrap it in _() or N_()):\n" + "\n".join(found)


def test_the_unmarked_scan_finds_english(tmp_path: Path) -> None:
    package = tmp_path / "labsock"
    (package / "exercises").mkdir(parents=True)
    (package / "a.py").write_text(
        "def f(x):\n"
        "    if x:\n"
        "        raise ValueError(f'no such thing: {x}')\n"
        "    raise ValueError(_('no such thing: {x}').format(x=x))\n"
    )
    (package / "exercises" / "c.py").write_text(
        "def g(run, ok):\n"
        "    run.check('echoes', ok, hint=_('use sendall'))\n"
        "    run.check(N_('echoes'), ok, hint='use sendall')\n"
        "    run.check(N_('echoes'), ok, hint=_('use sendall'))\n"
    )
    assert [line.split(":")[:2] for line in tool.unmarked(package)] == [
        ["labsock/a.py", "3"],
        ["labsock/exercises/c.py", "2"],
        ["labsock/exercises/c.py", "3"],
    ]
