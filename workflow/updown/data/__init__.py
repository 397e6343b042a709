"""Acquire and validate: sources of raw bars, and the checks that build the price panel."""
