rule track:
    # The only rule that touches MLflow: one completed result, one run.
    input:
        model="models/model.txt",
        features="data/processed/features.parquet",
        labels="data/interim/labels.parquet",
        prices="data/interim/prices.parquet",
        metrics="reports/metrics.json",
        curve="reports/train_curve.csv",
        report="reports/report.html",
        plots="reports/plots",
        validation="reports/validation.json",
    output:
        "reports/mlflow_run.json",
    log:
        "logs/track.log",
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        mlflow=section("mlflow"),
    shell:
        "updown track --params params.yaml --model {input.model} --features {input.features} "
        "--labels {input.labels} --prices {input.prices} --metrics {input.metrics} "
        "--curve {input.curve} --report {input.report} --plots {input.plots} "
        "--validation {input.validation} --out {output} --log {log}"


rule predict:
    input:
        model="models/model.txt",
        prices="data/interim/prices.parquet",
        run="reports/mlflow_run.json",
    output:
        "reports/latest.csv",
    log:
        "logs/predict.log",
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        features=section("features"),
        predict=section("predict"),
        evaluate=section("evaluate"),
    shell:
        "updown predict --params params.yaml --model {input.model} --prices {input.prices} "
        "--run {input.run} --out {output} --log {log}"
