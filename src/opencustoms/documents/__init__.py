"""Verifiable trade documents: certificates of origin, AEO certificates, licences and quality certificates in the
OpenAttestation format, their issuance registry, verification (integrity, status, identity), print and QR."""
