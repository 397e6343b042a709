"""Score, predict, serve and track: the deployed model's answers and its MLflow run."""
