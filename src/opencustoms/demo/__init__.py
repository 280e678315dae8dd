"""Synthetic demo data: seeded import declarations with labelled fraud (see docs/demo-data.md)."""
