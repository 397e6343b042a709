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


rule label:
    input:
        prices="data/interim/prices.parquet",
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
        "updown label --params params.yaml --prices {input.prices} --out {output} --log {log}"


rule features:
    input:
        prices="data/interim/prices.parquet",
        code=code("features"),
    output:
        update("data/processed/features.parquet"),
    log:
        "logs/features.log",
    benchmark:
        "logs/benchmarks/features.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=scaled(300, 60, ceiling=(4000, 3)),
        runtime=scaled(5, 0.1),
    params:
        features=section("features"),
    shell:
        "updown features --params params.yaml --prices {input.prices} --out {output} --log {log}"
