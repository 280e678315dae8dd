"""Security core: administrations, officers and roles, API tokens, the audit log, pseudonyms."""
