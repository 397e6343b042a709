rule acquire:
    # One job per ticker: adding a ticker fetches only that ticker. update(): Snakemake keeps the
    # previous snapshot while the job runs and puts it back if the fetch fails (DVC: persist).
    output:
        update("data/raw/{source}/{ticker}.parquet"),
    log:
        "logs/acquire/{source}/{ticker}.log",
    benchmark:
        "logs/benchmarks/acquire/{source}/{ticker}.tsv"
    conda:
        "../envs/updown.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        data=section("data", exclude=["tickers"]),
    shell:
        "updown acquire --params params.yaml --ticker '{wildcards.ticker}' "
        "--out-dir data/raw/{wildcards.source} --log {log}"


rule validate:
    input:
        expand("{raw}/{ticker}.parquet", raw=RAW_DIR, ticker=TICKERS),
    output:
        prices="data/interim/prices.parquet",
        report="reports/validation.json",
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
        data=section("data"),
        validate=section("validate"),
        raw_dir=lambda wildcards, input: os.path.dirname(input[0]),
    shell:
        "updown validate --params params.yaml --raw-dir {params.raw_dir} "
        "--out {output.prices} --report {output.report} --log {log}"


rule label:
    input:
        prices="data/interim/prices.parquet",
    output:
        "data/interim/labels.parquet",
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
    shell:
        "updown label --params params.yaml --prices {input.prices} --out {output} --log {log}"


rule features:
    input:
        prices="data/interim/prices.parquet",
    output:
        "data/processed/features.parquet",
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
