"""Where the tests' reference data lives: `tests/data/`, inside the repository.

One place for the paths, so every test reads the same files and a public clone needs nothing
beside the repository. The files and their sources are described in `tests/data/README.md`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
# 16 DCC RTDS 4.5.0 frames with their decoded header fields.
GBCS_EXAMPLES = DATA / "gbcs-examples.json"
# The message-code and alert-code tables gbcs/codes.py transcribes.
GBCS_CODE_TABLES = DATA / "gbcs-code-tables.md"
MESSAGE_CODES_HEADING = "## Message codes"
ALERT_CODES_HEADING = "## Alert codes"


def gbcs_examples() -> list[dict[str, Any]]:
    """The reference frames; a missing file fails loudly (they are the codec's only real input)."""
    assert GBCS_EXAMPLES.is_file(), f"reference frames missing: {GBCS_EXAMPLES}"
    examples: list[dict[str, Any]] = json.loads(GBCS_EXAMPLES.read_text(encoding="utf-8"))
    return examples
