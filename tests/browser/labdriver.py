"""Drive JupyterLab in a real browser: a private server, notebooks run as a student runs them.

:func:`running_lab` starts this session's own ``jupyter lab``: 127.0.0.1, a
port the OS picks, a random token, and temporary runtime, config, data,
settings and workspace folders, so nothing is shared with a teacher's running
JupyterLab or another CI job. It serves a temporary COPY of ``notebooks/``:
running cells in the browser never writes outputs into the repository.

:class:`LabDriver` opens a notebook in its own JupyterLab page (Playwright,
Debian's chromium), runs all its cells through the application's own command
(``notebook:run-all-cells``, reached through ``window.jupyterapp``, which
``--LabApp.expose_app_in_browser`` exposes), waits until every code cell shows
an execution count, and collects what a student would see: error outputs,
figures, Mermaid diagrams, widgets; then it takes a screenshot of the whole
notebook into ``artifacts/screenshots/``. Each notebook is opened and run
once per session; the interaction tests reuse its page.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

#: Flags for a headless chromium that talks to nothing but our server.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # needed as root (CI containers); harmless otherwise
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-proxy-server",
]
SERVER_START_TIMEOUT = 90.0  # seconds until `jupyter lab` answers
APP_START_TIMEOUT = 90.0  # seconds until JupyterLab shows the notebook with a kernel
RUN_ALL_TIMEOUT = 240.0  # seconds for one notebook's "run all"
RENDER_TIMEOUT = 30.0  # seconds for figures and diagrams to appear after the run
VIEWPORT = {"width": 1280, "height": 1000}
# Taller notebooks are captured in several parts (headless chromium captured
# 30,000 pixels in one image here; image viewers struggle beyond that anyway).
MAX_SHOT_HEIGHT = 30000

# JupyterLab settings for a test: every cell attached to the page (so the page
# shows all outputs, whatever the windowing default of the JupyterLab version),
# no blank space after the last cell (for the screenshots), no autosave (we
# read, never write), no news or update checks (no traffic).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "scrollPastEnd": False,  # the notebook is exactly as tall as its cells
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def find_chromium() -> str | None:
    """The chromium to drive: ``$LABSOCK_CHROMIUM``, else Debian's, else one on PATH."""
    candidates = [os.environ.get("LABSOCK_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def notebook_names() -> list[str]:
    """Every lesson notebook there is now, sorted (``00_index.ipynb``, ...)."""
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def notebook_source(name: str) -> dict[str, Any]:
    """The stored notebook (no outputs), as JSON."""
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def code_cells_containing(name: str, needle: str) -> list[int]:
    """Indexes (among all cells) of the code cells whose source contains ``needle``."""
    cells = notebook_source(name)["cells"]
    return [
        i
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code" and needle in "".join(cell["source"])
    ]


# -- the server ---------------------------------------------------------------------------
@dataclass
class LabServer:
    """A running ``jupyter lab`` of this test session."""

    url: str  # http://127.0.0.1:PORT/
    token: str
    root: Path  # the copy of notebooks/ it serves
    log: Path

    def notebook_url(self, name: str, workspace: str) -> str:
        # A workspace of its own per page, reset: no page restores another's tabs.
        return f"{self.url}lab/workspaces/{workspace}/tree/{name}?reset&token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _server_info(runtime: Path, pid: int) -> dict[str, Any] | None:
    info = runtime / f"jpserver-{pid}.json"
    try:
        return json.loads(info.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{url}api/status", headers={"Authorization": f"token {token}"}
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with direct.open(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server shuts its kernels down), then SIGKILL whatever is left."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for child in children:  # kernels of a server that died without stopping them
        try:
            child.kill()
            child.wait(timeout=5)
        except psutil.NoSuchProcess:
            pass


@contextlib.contextmanager
def running_lab(base: Path) -> Iterator[LabServer]:
    """Run ``jupyter lab`` on 127.0.0.1, a free port and a random token, in folder ``base``.

    It serves a copy of ``notebooks/`` and keeps its runtime, config, data,
    settings and workspace files in ``base``. Stopped (kernels included) on exit.
    """
    root = base / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    dirs = {
        name: base / name for name in ("runtime", "config", "data", "ipython", "settings", "ws")
    }
    for path in dirs.values():
        path.mkdir()
    for name, values in LAB_SETTINGS.items():
        target = dirs["settings"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")
    token = secrets.token_hex(24)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        # An empty user data folder: no user kernelspec can replace this venv's python.
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "IPYTHONDIR": str(dirs["ipython"]),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # the OS picks a free port; the server info file says which
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={dirs['ws']}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyterlab.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        url = None
        while time.monotonic() < deadline and process.poll() is None:
            info = _server_info(dirs["runtime"], process.pid)
            if info is not None and _answers(info["url"], token):
                url = info["url"]
                break
            time.sleep(0.25)
        if url is None:
            text = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(
                f"jupyter lab did not answer within {SERVER_START_TIMEOUT:.0f} s:\n{text}"
            )
        yield LabServer(url=url, token=token, root=root, log=log)
    finally:
        _stop(process)


# JavaScript run in the page. `panel(path)` finds the notebook's panel among
# the main area's widgets, by its path.
_FIND_PANEL = """
const panel = (path) => {
  for (const w of window.jupyterapp.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.widgets) return w;
  }
  return null;
};
"""

_JS_OPENED = (
    "(path) => {"
    + _FIND_PANEL
    + "const p = window.jupyterapp && panel(path); return !!(p && p.sessionContext);}"
)

_JS_READY = (
    "async (path) => {"
    + _FIND_PANEL
    + """
  const p = panel(path);
  await p.context.ready;
  await p.sessionContext.ready;
  const kernel = p.sessionContext.session && p.sessionContext.session.kernel;
  return kernel ? kernel.status : 'no kernel';
}"""
)

_JS_PROGRESS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const p = panel(path);
  const kernel = p.sessionContext.session && p.sessionContext.session.kernel;
  const counts = p.content.widgets
    .filter((c) => c.model.type === 'code')
    .map((c) => c.model.executionCount);
  return {status: kernel ? kernel.status : 'no kernel', counts: counts};
}"""
)

# What each cell's outputs hold, without the (large) image data.
_JS_OUTPUTS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const p = panel(path);
  return p.content.widgets.map((cell, index) => {
    const outputs = cell.model.type === 'code' ? cell.model.outputs.toJSON() : [];
    return {
      index: index,
      type: cell.model.type,
      count: cell.model.type === 'code' ? cell.model.executionCount : null,
      tags: cell.model.getMetadata('tags') || [],
      source: cell.model.sharedModel.getSource(),
      outputs: outputs.map((o) => {
        const data = o.data || {};
        const text = (x) => Array.isArray(x) ? x.join('') : String(x || '');
        return {
          type: o.output_type,
          name: o.name || null,
          mimes: Object.keys(data),
          text: o.output_type === 'error'
            ? o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).slice(-3).join('\\n')
            : text(o.text || data['text/markdown'] || '').slice(0, 4000),
        };
      }),
    };
  });
}"""
)

# What the page shows: rendered figures, diagrams and widgets.
_JS_RENDERED = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const node = panel(path).content.node;
  const all = (sel) => Array.from(node.querySelectorAll(sel));
  const loaded = (img) => img.complete && img.naturalWidth > 0;
  const mermaid = all('.jp-RenderedMermaid');
  return {
    outputImages: all('.jp-OutputArea-output[data-mime-type="image/png"] img')
      .filter(loaded).length,
    widgetImages: all('.jupyter-widgets img').filter(loaded).length,
    mermaidOk: mermaid.filter((m) => !m.classList.contains('jp-mod-warning')
      && m.querySelector('svg, img[src^="data:image/svg"]')).length,
    mermaidBroken: mermaid.filter((m) => m.classList.contains('jp-mod-warning')).length,
    widgetOutputs: all('.jp-OutputArea-output > .jupyter-widgets').length,
    widgetErrors: all('.jp-OutputArea-output').filter(
      (o) => /Error displaying widget|model not found/i.test(o.textContent)).length,
    errorOutputs: all('.jp-RenderedText[data-mime-type*="error"]').length,
    stderrTracebacks: all('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
      .filter((o) => /Traceback|Error/.test(o.textContent))
      .map((o) => o.textContent.slice(0, 2000)),
  };
}"""
)

_JS_HEIGHT = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const node = panel(path).content.node;
  const outer = node.querySelector('.jp-WindowedPanel-outer') || node;
  return outer.scrollHeight;
}"""
)

_JS_SCROLL = (
    "([path, top]) => {"
    + _FIND_PANEL
    + """
  const node = panel(path).content.node;
  const outer = node.querySelector('.jp-WindowedPanel-outer') || node;
  outer.scrollTop = top;
  return outer.scrollTop;
}"""
)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


_JS_RERUN = (
    "async ([path, index]) => {"
    + _FIND_PANEL
    + """
  const p = panel(path);
  p.content.activeCellIndex = index;
  p.content.deselectAll();
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""
)

_JS_COUNT = (
    "([path, index]) => {"
    + _FIND_PANEL
    + "return panel(path).content.widgets[index].model.executionCount;}"
)

_JS_MARK = (
    "([path, index, marker]) => {"
    + _FIND_PANEL
    + "panel(path).content.widgets[index].node.setAttribute('data-test-cell', marker);}"
)


@dataclass
class NotebookRun:
    """What one notebook showed in JupyterLab after "run all"."""

    name: str
    page: Any  # playwright Page, still open for interaction tests
    seconds: float
    cells: list[dict[str, Any]]
    rendered: dict[str, Any]
    screenshots: list[Path] = field(default_factory=list)

    @property
    def code_cells(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c["type"] == "code"]

    @property
    def unexecuted(self) -> list[int]:
        """Indexes of code cells with no execution count (the run stopped before them)."""
        return [c["index"] for c in self.code_cells if c["count"] is None]

    def error_outputs(self) -> list[str]:
        """Errors a student would see, one line each; cells tagged raises-exception excepted."""
        found = []
        for cell in self.code_cells:
            if "raises-exception" in cell["tags"]:
                continue
            for out in cell["outputs"]:
                if out["type"] == "error":
                    found.append(f"cell {cell['index']}: {_ANSI.sub('', out['text'])}")
                elif out["name"] == "stderr" and re.search(r"Traceback|Error", out["text"]):
                    found.append(f"cell {cell['index']} (stderr): {out['text'][:500]}")
        return found

    def widget_cells(self) -> list[int]:
        """Indexes of the cells whose output is a widget (a panel)."""
        mime = "application/vnd.jupyter.widget-view+json"
        return [
            c["index"] for c in self.code_cells if any(mime in o["mimes"] for o in c["outputs"])
        ]

    def panel_cells(self, needle: str) -> tuple[int, int] | None:
        """(the cell that makes a panel, the cell that shows it), for a source ``needle``.

        ``("LinkLab(")`` finds the first code cell containing it, and the first
        cell from there on whose output is a widget.
        """
        made = [c["index"] for c in self.code_cells if needle in c["source"]]
        if not made:
            return None
        shown = [i for i in self.widget_cells() if i >= made[0]]
        return (made[0], shown[0]) if shown else None

    def count_outputs(self, mime: str) -> int:
        return sum(mime in out["mimes"] for c in self.code_cells for out in c["outputs"])

    def mermaid_blocks(self) -> int:
        """Mermaid diagrams the notebook holds: in Markdown cells and in Markdown outputs."""
        blocks = 0
        for cell in self.cells:
            if cell["type"] == "markdown":
                blocks += cell["source"].count("```mermaid")
            for out in cell["outputs"]:
                if "text/markdown" in out["mimes"]:
                    blocks += out["text"].count("```mermaid")
        return blocks


def _save(page: Any, path: Path) -> Path:
    # Written here rather than by Playwright (screenshot(path=...)), which
    # writes from a worker thread that would outlive the test.
    path.write_bytes(page.screenshot(full_page=True))
    return path


class LabDriver:
    """Opens notebooks in JupyterLab pages and runs them, once each per session."""

    def __init__(self, server: LabServer, context: Any) -> None:
        self.server = server
        self.context = context
        self.runs: dict[str, NotebookRun] = {}

    def run(self, name: str) -> NotebookRun:
        """Open ``name`` in its own page, run all cells, wait, collect; cached."""
        if name not in self.runs:
            self.runs[name] = self._run(name)
        run = self.runs[name]
        run.page.bring_to_front()  # a background tab renders and runs timers slowly
        return run

    def _run(self, name: str) -> NotebookRun:
        page = self.context.new_page()
        messages: list[str] = []
        page.on("pageerror", lambda exc: messages.append(f"page error: {exc}"))
        started = time.monotonic()
        workspace = f"test-{re.sub(r'[^A-Za-z0-9]', '-', name)}-{secrets.token_hex(3)}"
        page.goto(self.server.notebook_url(name, workspace))
        page.wait_for_function(_JS_OPENED, arg=name, timeout=APP_START_TIMEOUT * 1000)
        page.evaluate(_JS_READY, name)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        self._wait_for_run(page, name)
        cells = page.evaluate(_JS_OUTPUTS, name)
        run = NotebookRun(name, page, time.monotonic() - started, cells, {})
        run.rendered = self._wait_for_rendering(page, run)
        run.screenshots = self.screenshot(run)
        return run

    def _wait_for_run(self, page: Any, name: str) -> None:
        # Done when every code cell shows a number. If the kernel has been
        # idle for a while with cells still unnumbered, the run stopped at an
        # error: return and let the test report it.
        deadline = time.monotonic() + RUN_ALL_TIMEOUT
        idle_since: float | None = None
        while time.monotonic() < deadline:
            progress = page.evaluate(_JS_PROGRESS, name)
            if all(count is not None for count in progress["counts"]):
                return
            if progress["status"] == "idle":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 5.0:
                    return
            else:
                idle_since = None
            page.wait_for_timeout(250)
        pytest.fail(
            f"{name}: 'run all' did not finish within {RUN_ALL_TIMEOUT:.0f} s; "
            f"execution counts: {page.evaluate(_JS_PROGRESS, name)['counts']}; "
            f"server log:\n{self.server.log_tail()}"
        )

    def _wait_for_rendering(self, page: Any, run: NotebookRun) -> dict[str, Any]:
        want_images = run.count_outputs("image/png")
        want_mermaid = run.mermaid_blocks()
        deadline = time.monotonic() + RENDER_TIMEOUT
        while True:
            rendered: dict[str, Any] = page.evaluate(_JS_RENDERED, run.name)
            mermaid_done = rendered["mermaidOk"] + rendered["mermaidBroken"] >= want_mermaid
            if (rendered["outputImages"] >= want_images and mermaid_done) or (
                time.monotonic() > deadline
            ):
                return rendered
            page.wait_for_timeout(250)

    def screenshot(self, run: NotebookRun, suffix: str = "") -> list[Path]:
        """The whole notebook as a student sees it, in one image (or a few, if very tall)."""
        page, name = run.page, run.name
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        stem = Path(name).stem + suffix
        for old in SCREENSHOTS.glob(f"{stem}*.png"):
            old.unlink()
        # The notebook alone, without side panels, in a window as tall as it is.
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.evaluate("() => window.jupyterapp.shell.collapseRight()")
        height = int(page.evaluate(_JS_HEIGHT, name))
        chrome = 160  # menu bar, tab bar, toolbar and status bar around the notebook
        shots = []
        try:
            if height + chrome <= MAX_SHOT_HEIGHT:
                page.set_viewport_size({"width": VIEWPORT["width"], "height": height + chrome})
                page.evaluate(_JS_SCROLL, [name, 0])
                page.wait_for_timeout(500)
                shots.append(_save(page, SCREENSHOTS / f"{stem}.png"))
            else:
                part_height = MAX_SHOT_HEIGHT - chrome
                page.set_viewport_size({"width": VIEWPORT["width"], "height": MAX_SHOT_HEIGHT})
                for part, top in enumerate(range(0, height, part_height), start=1):
                    page.evaluate(_JS_SCROLL, [name, top])
                    page.wait_for_timeout(500)
                    shots.append(_save(page, SCREENSHOTS / f"{stem}.part{part}.png"))
        finally:
            page.set_viewport_size(VIEWPORT)
            page.evaluate(_JS_SCROLL, [name, 0])
        return shots

    def cell(self, run: NotebookRun, index: int) -> Any:
        """A locator for the cell at ``index`` (among all cells), scrolled into view."""
        marker = f"test-cell-{index}"
        run.page.evaluate(_JS_MARK, [run.name, index, marker])
        cell = run.page.locator(f'[data-test-cell="{marker}"]')
        cell.scroll_into_view_if_needed()
        return cell

    def rerun(self, run: NotebookRun, index: int) -> None:
        """Run one cell again, as a student would, and wait until it is done."""
        before = run.page.evaluate(_JS_COUNT, [run.name, index])
        run.page.evaluate(_JS_RERUN, [run.name, index])
        deadline = time.monotonic() + RUN_ALL_TIMEOUT
        while run.page.evaluate(_JS_COUNT, [run.name, index]) in (None, before):
            if time.monotonic() > deadline:
                pytest.fail(f"{run.name}: cell {index} did not finish running again")
            run.page.wait_for_timeout(100)

    def panel(self, run: NotebookRun, shown: int) -> Any:
        """The cell at ``shown``, showing its panel, live after "run all".

        Panels stay live after "run all" (a lesson's closing checks never
        close them): a student scrolls back and plays with them, without
        re-running anything. A panel closed by a later cell has vanished from
        the page by now, and this fails.
        """
        cell = self.cell(run, shown)
        deadline = time.monotonic() + RENDER_TIMEOUT
        while cell.locator(".jupyter-widgets .widget-button").count() == 0:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{run.name}: cell {shown} shows no live panel after 'run all' "
                    "(did a later cell close it?)"
                )
            run.page.wait_for_timeout(100)
        return cell

    def close(self) -> None:
        for run in self.runs.values():
            run.page.close()
