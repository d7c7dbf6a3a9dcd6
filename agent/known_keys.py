"""What an unknown key in a TOML file should have been: the one helper every reader uses.

A misspelt key is the commonest config mistake, and a silently ignored one can reverse what the
file meant (a scenario's `critcal = false` left the command critical). So every table of every
file the hub and its tools read (the hub config, the restricted profile, scenario files) refuses
a key it does not know, and says which known key is nearest. No imports from the agent, so any
module can use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def known_key(name: str, valid: Iterable[str]) -> str:
    """The text after "expected " for an unknown key `name` in a table whose keys are `valid`:
    the nearest valid key when one is close, else all of them."""
    choices = list(valid)
    nearest = difflib.get_close_matches(name, choices, n=1)
    if nearest:
        return f"a known key (did you mean {nearest[0]!r}?)"
    return f"a known key (one of: {', '.join(choices)})"
