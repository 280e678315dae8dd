"""What several risk tests share."""

from __future__ import annotations

PROFILE = {
    "id": "laptops-cn",
    "lane": "red",
    "weight": 1.0,
    "valid_from": "2025-01-01",
    "reason": "Laptops from China declared below the market price",
    "criteria": {
        "all_of": [{"field": "hs6", "op": "prefix", "value": "8471"}, {"field": "origin", "op": "eq", "value": "CN"}]
    },
}
