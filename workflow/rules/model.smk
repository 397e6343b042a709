rule train:
    input:
        features="data/processed/features.parquet",
        labels="data/interim/labels.parquet",
        code=code("train"),
    output:
        model=update("models/model.txt"),
        folds=update(directory("models/folds")),
        baselines=update("models/baselines.json"),
        curve=update(
            report(
                "reports/train_curve.csv",
                caption="../report/train_curve.rst",
                category="3. Train",
                labels={"output": "train_curve.csv"},
            )
        ),
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
        metrics=update(
            report(
                "reports/metrics.json",
                caption="../report/metrics.rst",
                category="4. Evaluate",
                labels={"output": "metrics.json"},
            )
        ),
        headline=update("headline.json"),
        plots=update(
            report(
                directory("reports/plots"),
                patterns=["{name}.png"],
                caption="../report/plots.rst",
                category="4. Evaluate",
                subcategory="Plots",
                labels={"figure": "{name}"},
            )
        ),
        predictions=update("reports/predictions.parquet"),
        # The report's body; the track stage adds the run's header (reports/report.html).
        report=update("reports/evaluation.html"),
    log:
        "logs/evaluate.log",
    benchmark:
        "logs/benchmarks/evaluate.tsv"
    conda:
        "../envs/updown.yaml"
    threads: config["evaluate"]["threads"]
    resources:
        mem_mb=scaled(500, 3, ceiling=(3000, 1.5)),
        runtime=scaled(10, 0.01),
    params:
        split=section("split"),
        evaluate=section("evaluate", exclude=["threads"]),
    shell:
        "updown evaluate --params params.yaml --features {input.features} "
        "--labels {input.labels} --prices {input.prices} --model {input.model} "
        "--folds {input.folds} --baselines {input.baselines} --validation {input.validation} "
        "--metrics {output.metrics} --headline {output.headline} --plots {output.plots} "
        "--predictions {output.predictions} --report {output.report} --log {log}"
