# Convenience targets; each is a thin wrapper over scripts/ so the README's commands stay the truth.
.PHONY: setup lab test lint fuzz clean install uninstall check-unit

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

# On the Pi, as root: venv under /opt/han-agent, unit, config template, udev rule (docs/operations.md).
install:
	bash scripts/install.sh install

uninstall:
	bash scripts/install.sh uninstall

check-unit:
	bash scripts/check-unit.sh

clean:
	rm -rf .venv state .lab .pytest_cache .mypy_cache .ruff_cache .hypothesis
