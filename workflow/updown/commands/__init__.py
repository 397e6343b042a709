"""One module per `updown` command: the file-in, file-out glue between the CLI and the pure stage
functions. Each imports what its stage runs at module level, so the stage's code (the files
Snakemake and DVC declare as its dependencies, see updown.dag.code_deps) is exactly the closure
of its imports."""
