# updown: acquire -> validate -> label / features -> train -> evaluate -> track -> predict.
# dvc.yaml is rendered from this workflow (`make dvc.yaml`); a test keeps the two in step.
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

# Check params.yaml with updown's own rules first: a bad key, type, date or ticker stops the run
# with one line naming it (and a YAML syntax error with its line), before any job starts.
from updown.config import load_params
from updown.errors import UpdownError

try:
    load_params("params.yaml")
except UpdownError as exc:
    sys.exit(f"updown: error: {' '.join(str(exc).split())}")


configfile: "params.yaml"


# `snakemake --report report.zip`: the outputs marked report() below, with these captions.
report: "workflow/report/workflow.rst"


validate(config, "workflow/schemas/params.schema.yaml")

# The track stage records which orchestrator ran it; jobs inherit this environment.
os.environ.setdefault("UPDOWN_ORCHESTRATOR", "snakemake")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/track.smk"


rule all:
    default_target: True
    input:
        # Every stage's outputs, not just the last ones: Snakemake rebuilds a missing file only
        # when something downstream needs rerunning, so after a failed or killed job (whose
        # outputs it deletes) it would call the stale results "Nothing to be done". As targets,
        # missing outputs are rebuilt with the current params and the stages after them follow.
        rules.validate.input.raw,
        rules.validate.output,
        rules.label.output,
        rules.features.output,
        rules.train.output,
        rules.evaluate.output,
        "reports/metrics.json",
        "reports/mlflow_run.json",
        "reports/latest.csv",


onsuccess:
    # Snakemake is done: its objects are left to the exit rather than to one last garbage
    # collection over all of them (0.2 s of every run that ran a job).
    import gc

    gc.freeze()
