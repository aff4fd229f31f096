"""The launcher's checks that the user sees as one-line errors."""

import subprocess
import sys

from suite.stack import BASE_DIR


def test_unreachable_database_url_is_a_one_line_error():
    result = subprocess.run(
        [sys.executable, "-m", "suite.stack", "exec", "--", "true"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database in DATABASE_URL (127.0.0.1:1)")
    assert "Traceback" not in result.stderr


def test_port_already_taken_is_a_one_line_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "suite.stack", "run"],
            env={"PATH": "/usr/bin:/bin", "PORT": str(port)},
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already taken; stop what uses it or run `make run PORT={port + 1}`"
    )
