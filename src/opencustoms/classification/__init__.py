"""Tariff classification: HS suggestions from goods descriptions. Public face: :mod:`.service`."""
