# The README's two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
# pytest-xdist workers. Most tests wait on ssh, plays and subprocesses, not on a core: more workers
# than cores pay (docs/development.md). `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 3
PYTEST := $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

.PHONY: install demo test test-unit molecule lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

## Run the whole procedure on the embedded example project (no servers needed).
demo: install
	VENV=$(VENV) ./examples/demo.sh

## Lint (ruff, mypy, ansible-lint), then run the test suite (unit + integration over real SSH test hosts).
test: install lint
	./.ci/system-deps
	$(PYTEST)

test-unit: install
	$(PYTEST) -m 'not integration'

## Run the molecule scenarios (molecule/): relkit's roles applied to real SSH test hosts.
## molecule runs from the repository root and finds ansible-playbook and pytest on PATH.
molecule: install
	./.ci/system-deps
	cd $(CURDIR) && PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/molecule -c molecule/config.yml test --all

lint: install
	$(VENV)/bin/ruff check relkit tests bench examples molecule playbooks
	$(VENV)/bin/mypy
	cd playbooks && ANSIBLE_MODULE_UTILS=module_utils ../$(VENV)/bin/ansible-lint deploy.yml prepare.yml rollback.yml smoke.yml health.yml witness.yml ../roles ../molecule

## Write docs/configuration.md's relkit.yml reference from relkit's config model (relkit/config.py).
docs: install
	$(VENV)/bin/python -m relkit.configdoc docs/configuration.md

bench: install
	./.ci/system-deps
	$(VENV)/bin/python bench/deploy.py

clean:
	rm -rf $(VENV) examples/project/.relkit examples/webapp/dist
