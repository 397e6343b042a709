# The whole set-up is `make run` and `make test`: each builds .venv from requirements.lock on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
export PATH := $(CURDIR)/$(BIN):$(PATH)
# pip's notes about unused local indexes are noise here.
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: run run-hourly update replay test test-fast lint unit ui exp bench sweep lock dvc.yaml plots-template clean help

help:
	@echo "make run    - run the whole pipeline (snakemake) on the embedded sample"
	@echo "make run-hourly - the same pipeline on a synthetic hourly panel, in runs/hourly"
	@echo "make test   - lint, type-check and run the test suite"
	@echo "make test-fast - unit and property tests only (no snakemake/dvc/mlflow/browser runs)"
	@echo "make ui     - open the MLflow UI on http://127.0.0.1:5000"
	@echo "make exp    - the DVC experiments table: headline metrics and the params that differ"
	@echo "make bench  - speed and memory benchmarks (needs ../shared)"
	@echo "make update - the live loop's step now: new bars, predict, journal, monitor, retrain when due"
	@echo "make replay - the live loop over history (REPLAY=\"--start D --end D\"), in replays/"
	@echo "make sweep  - a grid of configurations chosen on validation, the winner tested once"
	@echo "make lock   - re-pin requirements.lock from requirements.in"
	@echo "make plots-template - rebuild the offline dvc plots page from npm (needs npm)"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("updown needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock $(PIP_QUIET)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . $(PIP_QUIET)
	$(BIN)/python -c 'import updown, snakemake, dvc, mlflow, lightgbm'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --workflow-profile workflow/profiles/local

# The hourly example: examples/hourly.yaml over params.yaml, bars from the seeded generator, and
# the same Snakefile run in its own folder (--directory), so no output mixes with `make run`'s.
HOURLY      := runs/hourly
HOURLY_BARS := --tickers 5 --bars 3500 --interval 1h --seed 1
run-hourly: $(STAMP)
	$(BIN)/updown params --overlay examples/hourly.yaml --out $(HOURLY)/params.yaml
	test -d $(HOURLY)/bars || $(BIN)/python benchmarks/synthetic.py --out $(HOURLY)/bars \
		$(HOURLY_BARS) > /dev/null
	$(BIN)/snakemake --cores $(CORES) --workflow-profile workflow/profiles/local \
		--snakefile Snakefile --directory $(HOURLY)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1
	$(BIN)/mypy
	$(BIN)/updown dvc-yaml --check

unit: $(STAMP)
	$(BIN)/pytest -n $(CORES) --dist loadfile --no-loadscope-reorder

test: lint unit

# The edit loop: the unit and property tests, without the real snakemake / dvc / mlflow /
# chromium runs (markers in pyproject.toml); `make test` still runs everything.
test-fast: $(STAMP)
	$(BIN)/pytest -n $(CORES) --dist loadfile --no-loadscope-reorder -m "not integration and not browser and not slow"

# The store the track stage logs to (params mlflow.tracking_uri, $$MLFLOW_TRACKING_URI, else
# sqlite:///mlflow.db here); a tracking server has its own UI. Localhost only: PORT=5001 to move.
ui: $(STAMP)
	@uri=$$($(BIN)/updown store) || exit 1; \
	case "$$uri" in http*) echo "runs are on the tracking server $$uri: open it in a browser"; exit 0;; esac; \
	echo "MLflow UI for $$uri on http://127.0.0.1:$${PORT:-5000}"; \
	exec $(BIN)/mlflow ui --backend-store-uri "$$uri" --host 127.0.0.1 --port $${PORT:-5000}

# The live loop (README "Live loop"): one step at the real clock, run daily (cron, systemd timer).
# The schedule in params `retrain` decides when the pipeline retrains, not Snakemake's file dates.
update: $(STAMP)
	$(BIN)/updown update --cores $(CORES)

# The same loop over history with a simulated clock, in replays/<name>/ (rerun to resume).
REPLAY ?= --start 2018-06-01 --end 2018-08-24
replay: $(STAMP)
	$(BIN)/updown replay $(REPLAY) --cores $(CORES)

# A grid in params-style keys, as `dvc exp run -S` takes them: make sweep SWEEP="-S train.x=1,2 ...".
SWEEP ?= -S train.learning_rate=0.01,0.03,0.1 -S train.num_leaves=7,31
sweep: $(STAMP)
	$(BIN)/updown sweep $(SWEEP) --cores $(CORES)

# `dvc exp show` lists every param (about 120) and the hash of every dependency (about 80 files)
# as columns. This keeps the params and metrics that differ between the experiments shown, always
# the model's headline metric and interval (headline.json), and no file hashes. It fits 120
# columns; EXP_ARGS adds options: EXP_ARGS=-A (every commit), EXP_ARGS=--md (for a pipe).
EXP_DROP := ^Created$$|^(data|models|reports|workflow)/|^requirements\.lock$$
exp: $(STAMP)
	$(BIN)/dvc exp show --no-pager --only-changed --keep '^model\.' --drop '$(EXP_DROP)' $(EXP_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --cores $(CORES) $(BENCH_ARGS)

dvc.yaml: $(STAMP)
	$(BIN)/updown dvc-yaml

# Refresh the offline page of `dvc plots` (workflow/dvc_plots/offline.html) from npm: the
# versions in workflow/dvc_plots/vendor.json, checked against their recorded integrity. Needs npm.
plots-template: $(STAMP)
	$(BIN)/python workflow/dvc_plots/build.py

lock:
	$(PYTHON) -m pip install --quiet uv $(PIP_QUIET)
	$(PYTHON) -m uv pip compile requirements.in --universal --python-version 3.11 \
		--generate-hashes -o requirements.lock

clean:
	rm -rf data models reports logs .snakemake mlflow.db mlruns runs
