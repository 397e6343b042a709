# Tickers travel in a fixed number of jobs (data.acquire_jobs), each fetching its share in one
# process: one job per ticker would spend more on Python start-up than on the data. Adding a
# ticker reruns only the job it hashes to. update(): Snakemake keeps the previous snapshots in
# place while a job runs (yfinance updates read them and append) and puts them back if the
# fetch fails (DVC: persist). A changed data.end reruns the job through `data`.
for job_name, job_tickers in ACQUIRE_JOBS.items():

    rule:
        name:
            job_name
        input:
            code=code("acquire"),
        output:
            [update(f"{RAW_DIR}/{t}.parquet") for t in job_tickers],
        log:
            f"logs/acquire/{SOURCE}/{job_name}.log",
        benchmark:
            f"logs/benchmarks/acquire/{SOURCE}/{job_name}.tsv"
        conda:
            "../envs/updown.yaml"
        resources:
            mem_mb=scaled(1000, 0),
            runtime=scaled(30, 0),
        params:
            data=acquire_data(),
            # Evaluated here, once per rule: the shell line below is formatted only when the job
            # runs, after the loop has moved on, so it must not name the loop's variables.
            tickers=" ".join(f"--ticker '{t}'" for t in job_tickers),
            out_dir=lambda wildcards, output: os.path.dirname(output[0]),
        shell:
            "updown acquire --params params.yaml {params.tickers} --out-dir {params.out_dir} "
            "--log {log}"


rule validate:
    input:
        raw=expand("{raw}/{ticker}.parquet", raw=RAW_DIR, ticker=TICKERS),
        code=code("validate"),
    output:
        prices=update("data/interim/prices.parquet"),
        report=update(
            report(
                "reports/validation.json",
                caption="../report/validation.rst",
                category="1. Validate",
                labels={"output": "validation.json"},
            )
        ),
    log:
        "logs/validate.log",
    benchmark:
        "logs/benchmarks/validate.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=scaled(400, 2.5),
        runtime=scaled(5, 0.05),
    params:
        data=section("data", exclude=["acquire_jobs", "overlap_bars"]),
        validate=section("validate"),
        raw_dir=lambda wildcards, input: os.path.dirname(input.raw[0]),
    shell:
        "updown validate --params params.yaml --raw-dir {params.raw_dir} "
        "--out {output.prices} --report {output.report} --log {log}"


# label.shards / features.shards > 1: a job per shard of tickers (a stable hash, as acquire),
# then the stage's own rule gathers them into the same file as one job (updown.learn.shards).
# A new shard count renders a new dvc.yaml (`make dvc.yaml`): the shard files are named by it.
wildcard_constraints:
    shard=r"\d+",


if config["label"]["shards"] > 1:

    rule label_shard:
        input:
            prices="data/interim/prices.parquet",
            code=code("label"),
        output:
            f"data/interim/labels/shard-{{shard}}-of-{config['label']['shards']}.parquet",
        log:
            f"logs/label/shard-{{shard}}-of-{config['label']['shards']}.log",
        benchmark:
            f"logs/benchmarks/label/shard-{{shard}}-of-{config['label']['shards']}.tsv"
        conda:
            "../envs/updown.yaml"
        resources:
            mem_mb=scaled(400, 7 / config["label"]["shards"]),
            runtime=scaled(5, 0.02),
        params:
            label=section("label"),
            evaluate=label_entry_source(),
            shard=lambda wildcards: f"{wildcards.shard}/{config['label']['shards']}",
        shell:
            "updown label --params params.yaml --prices {input.prices} --shard {params.shard} "
            "--out {output} --log {log}"


if config["features"]["shards"] > 1:

    rule features_shard:
        input:
            prices="data/interim/prices.parquet",
            code=code("features"),
        output:
            f"data/processed/features/shard-{{shard}}-of-{config['features']['shards']}.parquet",
        log:
            f"logs/features/shard-{{shard}}-of-{config['features']['shards']}.log",
        benchmark:
            f"logs/benchmarks/features/shard-{{shard}}-of-{config['features']['shards']}.tsv"
        conda:
            "../envs/updown.yaml"
        resources:
            mem_mb=scaled(300, 60 / config["features"]["shards"], ceiling=(4000, 3)),
            runtime=scaled(5, 0.1),
        params:
            features=section("features", exclude=["threads"]),
            shard=lambda wildcards: f"{wildcards.shard}/{config['features']['shards']}",
        shell:
            "updown features --params params.yaml --prices {input.prices} --shard {params.shard} "
            "--out {output} --log {log}"


rule label:
    input:
        prices="data/interim/prices.parquet",
        shards=shard_files("label", "data/interim/labels"),
        code=code("label"),
    output:
        update("data/interim/labels.parquet"),
    log:
        "logs/label.log",
    benchmark:
        "logs/benchmarks/label.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=scaled(400, 7),
        runtime=scaled(5, 0.02),
    params:
        label=section("label"),
        evaluate=label_entry_source(),
    shell:
        gathered("updown label --params params.yaml --prices {input.prices}", "label")
        + " --out {output} --log {log}"


rule features:
    input:
        prices="data/interim/prices.parquet",
        shards=shard_files("features", "data/processed/features"),
        code=code("features"),
    output:
        update("data/processed/features.parquet"),
    log:
        "logs/features.log",
    benchmark:
        "logs/benchmarks/features.tsv"
    conda:
        "../envs/updown.yaml"
    # One job computes on features.threads threads; a gather only ranks.
    threads: config["features"]["threads"] if config["features"]["shards"] == 1 else 1
    resources:
        mem_mb=scaled(300, 60, ceiling=(4000, 3)),
        runtime=scaled(5, 0.1),
    params:
        # Threads change no value: a new count reruns nothing.
        features=section("features", exclude=["threads"]),
    shell:
        gathered(
            "updown features --params params.yaml --prices {input.prices}", "features"
        )
        + " --out {output} --log {log}"
