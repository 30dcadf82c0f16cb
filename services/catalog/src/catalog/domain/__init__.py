"""Catalog's domain: the taxonomy, listings and each tutor's standing."""
