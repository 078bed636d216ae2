# Two commands: `make run` and `make test`. Everything else is a detail of these.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck schema check-schema bench clean graphiql-assets

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/portal serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check portal tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/strawberry export-schema portal.schema:schema --output frontend_contract/schema.graphql

# Re-vendors GraphiQL and React from the npm packages pinned in tools/graphiql (committed output).
graphiql-assets: $(STAMP)
	npm ci --prefix tools/graphiql --no-audit --no-fund
	$(BIN)/python tools/graphiql/vendor.py

clean:
	rm -rf $(VENV) var .pytest_cache
