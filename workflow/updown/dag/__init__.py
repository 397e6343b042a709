"""How the DAG is laid out for the orchestrators: acquire jobs, dvc.yaml, code dependencies."""
