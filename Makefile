# Two commands: `make run` and `make test`. Everything else is a detail of these.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Where `make run` keeps its database (the default of `portal`, see README: Set up).
DATA_DIR := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/portal

.PHONY: run test install lint typecheck schema check-schema bench clean clean-data differential \
	contract-types contract-diff release-schema graphiql-assets

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest

# The compiled read path against the executor on many more generated operations than CI runs
# (EXAMPLES per role and database; SEED picks another corpus). PostgreSQL via
# PORTAL_TEST_POSTGRES_URL, as for `make test`.
EXAMPLES ?= 2000
SEED ?= 13
differential: $(STAMP)
	PORTAL_DIFFERENTIAL_EXAMPLES=$(EXAMPLES) PORTAL_DIFFERENTIAL_SEED=$(SEED) \
		$(BIN)/pytest -q tests/integration/test_compiled_reads_differential.py -k generated

lint: $(STAMP)
	$(BIN)/ruff check portal tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/strawberry export-schema portal.schema:schema --output frontend_contract/schema.graphql

# The frontend contract: TypeScript types of frontend_contract/operations (graphql-codegen,
# client preset) checked with tsc --strict; the schema's changes since the last release.
NPM_STAMP := frontend_contract/node_modules/.package-lock.json
$(NPM_STAMP): frontend_contract/package-lock.json
	cd frontend_contract && npm ci --no-audit --no-fund

contract-types: $(NPM_STAMP)
	cd frontend_contract && npm run --silent check

contract-diff: $(STAMP)
	$(BIN)/python -m tests.contract.schema_changes

# At a release: the exported schema becomes the one the breaking-change gate compares with.
release-schema: schema
	{ sed -n '/^#/p' frontend_contract/released/schema.graphql; \
	  cat frontend_contract/schema.graphql; } > frontend_contract/released/schema.graphql.new
	mv frontend_contract/released/schema.graphql.new frontend_contract/released/schema.graphql

# Re-vendors GraphiQL and React from the npm packages pinned in tools/graphiql (committed output).
graphiql-assets: $(STAMP)
	npm ci --prefix tools/graphiql --no-audit --no-fund
	$(BIN)/python tools/graphiql/vendor.py

clean:
	rm -rf $(VENV) var .pytest_cache frontend_contract/node_modules frontend_contract/generated

# Start the embedded mode from empty: deletes its database, secret key, files and demo tokens.
clean-data:
	rm -rf "$(DATA_DIR)"
