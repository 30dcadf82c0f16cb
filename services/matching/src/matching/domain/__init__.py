"""Matching's rules over plain values and numpy columns: what a listing makes searchable,
the hard filters, the search order and its pages, the recommendation score and its
reasons. No framework, no database, no model: the adapters feed it, the application calls it."""
