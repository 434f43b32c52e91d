"""A copy of the practice notebook with the reference solutions filled in.

Every code cell tagged ``exercise`` (the starter code) is followed, in the
copy, by a cell that imports the functions it defines from
:mod:`labsock.solutions`, so the check cells after it judge the reference
solutions. The tests use it; a teacher can too::

    python -m labsock.solutions notebooks/05_practice.ipynb /tmp/05_solved.ipynb
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["EXERCISE_TAG", "fill_notebook", "main"]

#: The cell tag that marks starter code.
EXERCISE_TAG = "exercise"


def _defined_names(source: str) -> list[str]:
    tree = ast.parse(source)
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def fill_notebook(source: str | Path, target: str | Path) -> Path:
    """Write ``target``: ``source`` with the reference solutions imported after each exercise.

    Returns the path written. Raises ``ValueError`` when ``source`` has no
    cell tagged ``exercise``.
    """
    notebook: dict[str, Any] = json.loads(Path(source).read_text(encoding="utf-8"))
    import labsock.solutions as solutions

    cells: list[dict[str, Any]] = []
    filled = 0
    for cell in notebook["cells"]:
        cells.append(cell)
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or EXERCISE_TAG not in tags:
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        names = [n for n in _defined_names(text) if hasattr(solutions, n)]
        if not names:
            continue
        filled += 1
        cells.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"reference-solution-{filled}",
                "metadata": {"tags": ["reference-solution"]},
                "outputs": [],
                "source": f"from labsock.solutions import {', '.join(names)}  # reference",
            }
        )
    if not filled:
        raise ValueError(f"{source}: no code cell tagged {EXERCISE_TAG!r} defines a solved name")
    notebook["cells"] = cells
    out = Path(target)
    out.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m labsock.solutions SOURCE.ipynb TARGET.ipynb", file=sys.stderr)
        return 2
    print(fill_notebook(args[0], args[1]))
    return 0
