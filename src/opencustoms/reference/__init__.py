"""Reference data: HS nomenclature, countries, currencies, ISO 6346 containers, UN/LOCODE, vessel numbers."""
