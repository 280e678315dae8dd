from __future__ import annotations

import numpy as np
import pytest

from opencustoms.iot.geo import Corridor, LocalProjection, Zone, haversine_m


def test_corridor_distance_matches_great_circle_within_the_error_bound() -> None:
    corridor = Corridor([[4.2, 51.9], [6.17, 51.37]], tolerance_m=500)
    rng = np.random.default_rng(1)
    f = rng.uniform(0.05, 0.95, 200)
    lon = 4.2 + (6.17 - 4.2) * f
    lat = 51.9 + (51.37 - 51.9) * f + rng.uniform(-0.02, 0.02, 200)
    measured = corridor.distance_m(lat, lon)
    # reference: brute-force great-circle distance to a densely sampled route
    route_f = np.linspace(0, 1, 20001)
    rlon, rlat = 4.2 + (6.17 - 4.2) * route_f, 51.9 + (51.37 - 51.9) * route_f
    reference = np.array([haversine_m(la, lo, rlat, rlon).min() for la, lo in zip(lat, lon, strict=True)])
    assert corridor.error_bound < 0.01
    assert np.all(np.abs(measured - reference) <= reference * (corridor.error_bound + 0.005) + 15)
    inside = corridor.inside(lat, lon)
    assert np.array_equal(inside[np.abs(reference - 500) > 20], (reference <= 500)[np.abs(reference - 500) > 20])


def test_long_corridors_are_cut_into_pieces_with_their_own_projection() -> None:
    corridor = Corridor([[10.0, 40.0], [12.0, 46.0]], tolerance_m=1000)
    assert len(corridor.pieces) >= 6 and corridor.error_bound < 0.01
    assert corridor.inside(np.array([43.0]), np.array([11.0]))[0]
    assert not corridor.inside(np.array([43.0]), np.array([11.1]))[0]


def test_zones_and_antimeridian() -> None:
    circle = Zone("z", {"type": "circle", "latitude": 0.5, "longitude": 179.999, "radius_m": 1000})
    assert circle.contains(np.array([0.5, 0.5]), np.array([-179.995, -179.9])).tolist() == [True, False]
    projection = LocalProjection(45.0, 0.0)
    assert projection.error_bound(44.0, 46.0) == pytest.approx(0.0177, abs=1e-3)


def test_bad_corridors_are_refused() -> None:
    with pytest.raises(ValueError, match="latitude"):
        Corridor([[4.0, 95.0], [5.0, 51.0]], 100)
    with pytest.raises(ValueError, match="tolerance"):
        Corridor([[4.0, 51.0], [5.0, 51.0]], 1)
