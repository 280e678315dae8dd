"""The risk engine: selectivity lanes, ML targeting, valuation bands, inspection feedback. Public face: service.py."""
