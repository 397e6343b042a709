"""Evaluate: metrics, bootstrap intervals, backtest, plots and the report."""
