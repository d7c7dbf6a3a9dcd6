# Convenience targets; each is a thin wrapper over scripts/ so the README's commands stay the truth.
.PHONY: setup lab test lint fuzz bench bench-gbcs consent-crash clean install uninstall check-unit delivery-full soak

setup:
	bash scripts/setup.sh

lab:
	bash scripts/lab.sh

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

# The long fuzz runs (CI runs small counts on every submission): the hypothesis fuzz tests,
# then a million mutated and random frames through parse, classify and decide.
fuzz:
	HYPOTHESIS_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_frame.py -q -k fuzz
	.venv/bin/python bench/gbcs_fuzz.py --count 1000000

# Frames per second for parse + classify + decide on one core (figures go in BENCHMARKS.md).
bench-gbcs:
	.venv/bin/python bench/gbcs_bench.py

# End to end on a real mosquitto: throughput (hub and bare-bridge baseline), latency at
# 100 frames/s, READY time, and RSS over ten minutes (about 17 minutes in all; BENCHMARKS.md).
bench:
	.venv/bin/python bench/e2e_bench.py

# On the Pi, as root: venv under /opt/han-agent, unit, config template, udev rule (docs/operations.md).
install:
	bash scripts/install.sh install

uninstall:
	bash scripts/install.sh uninstall

check-unit:
	bash scripts/check-unit.sh

clean:
	rm -rf .venv state .lab .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The full crash-consistency run of the consent state: 200 SIGKILLs of a running agent while it
# applies signed changes (CI runs a few on every submission).
consent-crash:
	CONSENT_CRASH_KILLS=200 .venv/bin/pytest tests/test_consent_crash.py -q -s -o timeout=1800

# The full delivery fault runs (CI runs 3 agent kills): 20 SIGKILLs of the agent mid-burst,
# the 5,000-alert burst through three broker kills, and the long outbox property test.
delivery-full:
	HAN_KILL_LOOPS=20 HAN_BURST_ALERTS=5000 HYPOTHESIS_OUTBOX_EXAMPLES=1500 \
		.venv/bin/pytest -q -o timeout=1800 tests/test_delivery.py tests/test_outbox.py

# The full fault-injection run (CI runs a 5 s flood and 300 generated payloads): a 30 s flood at
# 5,000 msg/s of junk on every request topic, and 2,000 generated payloads; prints the figures.
soak:
	HAN_FLOOD_SECONDS=30 HAN_FLOOD_RATE=5000 HYPOTHESIS_FUZZ_EXAMPLES=2000 \
		.venv/bin/pytest -q -s -o timeout=1800 tests/test_fault_suite.py
