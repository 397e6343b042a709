rule track:
    # The only rule that touches MLflow: one completed result, one run.
    input:
        model="models/model.txt",
        features="data/processed/features.parquet",
        labels="data/interim/labels.parquet",
        prices="data/interim/prices.parquet",
        metrics="reports/metrics.json",
        curve="reports/train_curve.csv",
        evaluation="reports/evaluation.html",
        plots="reports/plots",
        validation="reports/validation.json",
        baselines="models/baselines.json",
        folds="models/folds",
        code=code("track"),
    output:
        run=update(
            report(
                "reports/mlflow_run.json",
                caption="../report/mlflow_run.rst",
                category="5. Track and predict",
                labels={"output": "mlflow_run.json"},
            )
        ),
        # evaluate's page with the header only the run can give (run, commit, trials, DSR).
        report=update(
            report(
                "reports/report.html",
                caption="../report/report.rst",
                category="5. Track and predict",
                labels={"output": "report.html"},
            )
        ),
    log:
        "logs/track.log",
    benchmark:
        "logs/benchmarks/track.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=scaled(600, 1.3),
        runtime=scaled(10, 0.01),
    params:
        # Where runs go is not part of the result (and a URI may hold a password, which
        # Snakemake would print and DVC would write to dvc.lock): a new tracking_uri alone
        # reruns nothing; `--forcerun track` logs the current result there.
        mlflow=section("mlflow", exclude=("tracking_uri",)),
        # The logged model scores windows of history_bars bars: a new window, a new run.
        predict=section("predict", exclude=("max_staleness_bars",)),
    shell:
        "updown track --params params.yaml --model {input.model} --features {input.features} "
        "--labels {input.labels} --prices {input.prices} --metrics {input.metrics} "
        "--curve {input.curve} --evaluation {input.evaluation} --plots {input.plots} "
        "--validation {input.validation} --baselines {input.baselines} --folds {input.folds} "
        "--out {output.run} --report {output.report} --log {log}"


rule predict:
    # The latest bar of every ticker scored the way the served model scores raw bars.
    input:
        model="models/model.txt",
        prices="data/interim/prices.parquet",
        run="reports/mlflow_run.json",
        code=code("predict"),
    output:
        update(
            report(
                "reports/latest.csv",
                caption="../report/latest.rst",
                category="5. Track and predict",
                labels={"output": "latest.csv"},
            )
        ),
    log:
        "logs/predict.log",
    benchmark:
        "logs/benchmarks/predict.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=scaled(1000, 12),
        runtime=scaled(5, 0.01),
    params:
        features=section("features", exclude=["threads"]),
        predict=section("predict"),
        evaluate=section(
            "evaluate", exclude=[k for k in config["evaluate"] if k != "threshold"]
        ),
        # Which model answers: @champion of mlflow.registered_model, else the model file. Not
        # tracking_uri, as for track: where the store lives changes no answer (and may hold a
        # password that Snakemake would print and DVC write to dvc.lock).
        mlflow=section(
            "mlflow", exclude=["experiment", "registered_alias", "tracking_uri"]
        ),
    shell:
        "updown predict --params params.yaml --model {input.model} --prices {input.prices} "
        "--run {input.run} --out {output} --log {log}"
