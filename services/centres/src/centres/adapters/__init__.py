"""Centres's adapters: the outside world its use cases talk to (stores, providers, read models)."""
