"""Record the C++ echo run that the lesson shows where g++ or strace is missing.

Runs tcp_server and tcp_client (labsock/cpp) under strace, as the lesson
does, and writes their strace output and what they printed to
labsock/cpp/recorded_echo.json. Run it again after changing either program:
    .venv/bin/python scripts/record_cpp_run.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labsock import cpp
from labsock._endpoints.compiler import SOURCES

STRACE = ("-f", "-qq", "-ttt", "-T", "-s", "64", "-e", "trace=network,close")


def socket_lines(text: str) -> str:
    """The strace lines from the first socket() on: the loader's closes before it say nothing."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if " socket(" in line)
    return "\n".join(lines[first:]) + "\n"


def main() -> int:
    ok, why = cpp.tracing()
    if not ok or not cpp.available()[0]:
        print(f"cannot record here: {why}", file=sys.stderr)
        return 1
    server_exe, client_exe = cpp.build("tcp_server"), cpp.build("tcp_client")
    strace = shutil.which("strace") or "strace"
    with tempfile.TemporaryDirectory() as tmp:
        server_log, client_log = os.path.join(tmp, "server"), os.path.join(tmp, "client")
        server = subprocess.Popen(
            [strace, *STRACE, "-o", server_log, str(server_exe.path), "127.0.0.1", "0", "1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        first = server.stdout.readline()
        port = first.rsplit(":", 1)[1].strip()
        client = subprocess.run(
            [strace, *STRACE, "-o", client_log, str(client_exe.path), "127.0.0.1", port, "hello"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        rest, _ = server.communicate(timeout=10)
        record = {
            "recorded_on": f"{cpp.available()[1]}, {why}, Linux",
            "command": "strace " + " ".join(STRACE),
            "strace": {
                "server": socket_lines(Path(server_log).read_text()),
                "client": socket_lines(Path(client_log).read_text()),
            },
            "outputs": {"server": first + rest, "client": client.stdout},
        }
    out = SOURCES / "recorded_echo.json"
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
