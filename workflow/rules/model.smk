rule train:
    input:
        features="data/processed/features.parquet",
        labels="data/interim/labels.parquet",
        code=code("train"),
    output:
        model=update("models/model.txt"),
        folds=update(directory("models/folds")),
        baselines=update("models/baselines.json"),
        curve=update("reports/train_curve.csv"),
    log:
        "logs/train.log",
    benchmark:
        "logs/benchmarks/train.tsv"
    conda:
        "../envs/updown.yaml"
    threads: config["train"]["num_threads"]
    resources:
        mem_mb=scaled(500, 5, ceiling=(5000, 1.4)),
        runtime=scaled(10, 0.02),
    params:
        split=section("split"),
        train=section("train"),
    shell:
        "updown train --params params.yaml --features {input.features} --labels {input.labels} "
        "--model {output.model} --folds {output.folds} --baselines {output.baselines} "
        "--curve {output.curve} --log {log}"


rule evaluate:
    input:
        features="data/processed/features.parquet",
        labels="data/interim/labels.parquet",
        prices="data/interim/prices.parquet",
        model="models/model.txt",
        folds="models/folds",
        baselines="models/baselines.json",
        validation="reports/validation.json",
        code=code("evaluate"),
    output:
        metrics=update("reports/metrics.json"),
        plots=update(directory("reports/plots")),
        predictions=update("reports/predictions.parquet"),
        # The report's body; the track stage adds the run's header (reports/report.html).
        report=update("reports/evaluation.html"),
    log:
        "logs/evaluate.log",
    benchmark:
        "logs/benchmarks/evaluate.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=scaled(500, 3, ceiling=(3000, 1.5)),
        runtime=scaled(10, 0.01),
    params:
        split=section("split"),
        evaluate=section("evaluate"),
    shell:
        "updown evaluate --params params.yaml --features {input.features} "
        "--labels {input.labels} --prices {input.prices} --model {input.model} "
        "--folds {input.folds} --baselines {input.baselines} --validation {input.validation} "
        "--metrics {output.metrics} --plots {output.plots} "
        "--predictions {output.predictions} --report {output.report} --log {log}"
