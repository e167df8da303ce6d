"""Writing files so that no reader ever sees half of one: write a temporary name, then rename."""

import json
import os


def write_atomic(path, write):
    """Call ``write(temp_path)``, then rename the result to ``path`` (removing it on failure)."""
    temp = f"{path}.tmp-{os.getpid()}"
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def write_text(path, text):
    def write(temp):
        with open(temp, "w") as f:
            f.write(text)

    write_atomic(path, write)


def write_json(path, payload):
    """JSON with numpy numbers and other objects written as numbers or strings."""
    write_text(path, json.dumps(payload, indent=2, default=lambda x: float(x) if hasattr(x, "__float__") else str(x)))
