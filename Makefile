# The two commands: `make demo` and `make test`. Both bootstrap idempotently.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bootstrap lint diagrams docs clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/sst demo

test: bootstrap
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy terminal devices hsm_sim host screens sst
	$(PY) -m terminal.diagram --check docs/state-machine.md
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy terminal devices hsm_sim host screens sst

diagrams docs: bootstrap
	$(PY) -m terminal.diagram --write docs/state-machine.md
	$(PY) -m hsm_sim.thales.docgen --write docs/hsm.md
	$(PY) -m host.iso8583.docgen --write docs/iso8583.md

clean:
	rm -rf $(VENV) .demo-data build *.egg-info
