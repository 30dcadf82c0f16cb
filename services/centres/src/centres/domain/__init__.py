"""Centres's domain: aggregates, value rules and refusals; no framework, no contracts."""
