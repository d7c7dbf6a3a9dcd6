# Convenience targets; each is a thin wrapper over scripts/ so the README's commands stay the truth.
.PHONY: setup lab test lint fuzz consent-crash clean

setup:
	bash scripts/setup.sh

lab:
	bash scripts/lab.sh

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

# The long fuzz run (CI runs a small count on every submission).
fuzz:
	HYPOTHESIS_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_frame.py -q -k fuzz

clean:
	rm -rf .venv state .lab .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The full crash-consistency run of the consent state: 200 SIGKILLs of a running agent while it
# applies signed changes (CI runs a few on every submission).
consent-crash:
	CONSENT_CRASH_KILLS=200 .venv/bin/pytest tests/test_consent_crash.py -q -s -o timeout=1800
