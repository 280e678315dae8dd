"""Vessel tracks from AIS: port calls (zones), AIS gaps, encounters and loitering, following Global Fishing Watch's
definitions: a gap is 12 h or more without a position; an encounter is two vessels within 500 m of each other for
2 h or more at a median speed under 2 knots; loitering is an average speed under 2 knots (here: for at least
``min_loiter_s``). All functions are pure over numpy arrays of one track each."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opencustoms.iot.alerts import Alert
from opencustoms.iot.geo import Zone, haversine_m

KMH_PER_KNOT = 1.852


@dataclass
class Track:
    mmsi: str
    t: np.ndarray  # unix seconds, sorted
    lat: np.ndarray
    lon: np.ndarray
    sog_kn: np.ndarray  # NaN when unknown
    imo: str | None = None
    name: str | None = None

    @classmethod
    def build(cls, mmsi: str, rows: list[tuple[float, float, float, float | None]], imo: str | None = None) -> Track:
        rows = sorted(rows)
        a = np.array([(t, la, lo, np.nan if s is None else s) for t, la, lo, s in rows], dtype=float).reshape(-1, 4)
        keep = np.concatenate([[True], np.diff(a[:, 0]) > 0]) if len(a) else np.zeros(0, dtype=bool)
        a = a[keep]
        return cls(mmsi, a[:, 0], a[:, 1], a[:, 2], a[:, 3], imo)


@dataclass
class VesselSettings:
    gap_s: float = 12 * 3600
    encounter_distance_m: float = 500.0
    encounter_min_s: float = 2 * 3600
    slow_kn: float = 2.0
    min_loiter_s: float = 2 * 3600
    step_s: float = 600.0
    max_interpolation_s: float = 3600.0
    port_call_split_s: float = 6 * 3600


@dataclass
class VesselReport:
    alerts: list[Alert] = field(default_factory=list)
    port_calls: list[dict[str, Any]] = field(default_factory=list)


def _ts(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(seconds), dt.UTC)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e) - 1) for s, e in zip(changes[::2], changes[1::2], strict=True)]


def gaps(track: Track, s: VesselSettings) -> list[Alert]:
    out = []
    d = np.diff(track.t)
    for i in np.flatnonzero(d >= s.gap_s):
        start, end = track.t[i], track.t[i + 1]
        moved = float(haversine_m(track.lat[i], track.lon[i], track.lat[i + 1], track.lon[i + 1]))
        out.append(
            Alert(
                "vessel",
                track.mmsi,
                "ais_gap",
                "medium",
                _ts(start),
                f"vessel {track.mmsi} sent no AIS position for {(end - start) / 3600:.1f} h and reappeared "
                f"{moved / 1852:.1f} nautical miles away",
                f"{start:.0f}",
                {
                    "mmsi": track.mmsi,
                    "imo": track.imo,
                    "gap_start": _ts(start).isoformat(),
                    "gap_end": _ts(end).isoformat(),
                    "hours": round((end - start) / 3600, 2),
                    "displacement_m": round(moved),
                    "duration_h": round(float(end - start) / 3600, 1),
                    "nautical_miles": round(float(moved) / 1852, 1),
                },
            )
        )
    return out


def loitering(track: Track, s: VesselSettings, exclude: list[Zone]) -> list[Alert]:
    """Runs of fixes slower than ``slow_kn`` (no interruption longer than the max interpolation gap) lasting at least
    ``min_loiter_s``, whose average speed is under ``slow_kn``, outside the excluded zones (ports, anchorages)."""
    if len(track.t) < 2:
        return []
    in_port = np.zeros(len(track.t), dtype=bool)
    for zone in exclude:
        in_port |= zone.contains(track.lat, track.lon)
    slow = (np.nan_to_num(track.sog_kn, nan=np.inf) < s.slow_kn) & ~in_port
    breaks = np.concatenate([[False], np.diff(track.t) > s.max_interpolation_s])
    out = []
    for a, b in _runs(slow):
        # split the run at long silences
        cuts = [a] + [i for i in range(a + 1, b + 1) if breaks[i]] + [b + 1]
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            if hi - lo < 2:
                continue
            duration = track.t[hi - 1] - track.t[lo]
            mean = float(np.nanmean(track.sog_kn[lo:hi]))
            if duration >= s.min_loiter_s and mean < s.slow_kn:
                out.append(
                    Alert(
                        "vessel",
                        track.mmsi,
                        "vessel_loitering",
                        "medium",
                        _ts(track.t[lo]),
                        f"vessel {track.mmsi} loitered for {duration / 3600:.1f} h at an average "
                        f"{mean:.2f} knots outside port",
                        f"{track.t[lo]:.0f}",
                        {
                            "mmsi": track.mmsi,
                            "imo": track.imo,
                            "start": _ts(track.t[lo]).isoformat(),
                            "end": _ts(track.t[hi - 1]).isoformat(),
                            "mean_speed_kn": round(mean, 2),
                            "position": [float(track.lat[lo]), float(track.lon[lo])],
                            "duration_h": round(float(duration) / 3600, 1),
                        },
                    )
                )
    return out


def _resample(
    track: Track, grid: np.ndarray, s: VesselSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions on the time grid, only where the bracketing fixes are at most ``max_interpolation_s`` apart."""
    if len(track.t) == 0:
        empty = np.zeros(0)
        return empty.astype(int), empty, empty, empty
    idx = np.searchsorted(track.t, grid)
    ok = (idx > 0) & (idx < len(track.t))
    exact = np.isin(grid, track.t)
    i1 = np.clip(idx, 1, max(len(track.t) - 1, 1))
    i0 = i1 - 1
    span = track.t[i1] - track.t[i0] if len(track.t) > 1 else np.zeros_like(grid)
    ok = (ok & (span <= s.max_interpolation_s)) | exact
    w = np.where(span > 0, (grid - track.t[i0]) / np.where(span > 0, span, 1), 0.0)
    if len(track.t) == 1:
        i0 = i1 = np.zeros_like(idx)
    lat = track.lat[i0] + (track.lat[i1] - track.lat[i0]) * w
    lon = track.lon[i0] + (track.lon[i1] - track.lon[i0]) * w
    sog = np.where(np.isnan(track.sog_kn[i0]), track.sog_kn[i1], track.sog_kn[i0])
    exact_idx = np.searchsorted(track.t, grid[exact])
    lat[exact], lon[exact], sog[exact] = track.lat[exact_idx], track.lon[exact_idx], track.sog_kn[exact_idx]
    keep = np.flatnonzero(ok)
    return keep, lat[keep], lon[keep], sog[keep]


def encounters(tracks: list[Track], s: VesselSettings) -> list[Alert]:
    if len(tracks) < 2:
        return []
    t0 = min(tr.t[0] for tr in tracks if len(tr.t))
    t1 = max(tr.t[-1] for tr in tracks if len(tr.t))
    grid = np.arange(np.floor(t0 / s.step_s) * s.step_s, t1 + s.step_s, s.step_s)
    per_bin: dict[int, list[tuple[int, float, float, float]]] = defaultdict(list)
    for k, tr in enumerate(tracks):
        keep, lat, lon, sog = _resample(tr, grid, s)
        for b, la, lo, sp in zip(keep.tolist(), lat.tolist(), lon.tolist(), sog.tolist(), strict=True):
            per_bin[b].append((k, la, lo, sp))
    cell = 0.01  # degrees; neighbours within 500 m are in adjacent cells at latitudes below ~60°
    close: dict[tuple[int, int], list[tuple[int, float, float]]] = defaultdict(list)
    for b, items in per_bin.items():
        if len(items) < 2:
            continue
        cells: dict[tuple[int, int], list[int]] = defaultdict(list)
        for j, (_, la, lo, _) in enumerate(items):
            cells[(int(np.floor(la / cell)), int(np.floor(lo / cell / max(np.cos(np.radians(la)), 0.2))))].append(j)
        for (cy, cx), members in cells.items():
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    for j in members:
                        for q in cells.get((cy + dy, cx + dx), ()):
                            if q <= j:
                                continue
                            a, b2 = items[j], items[q]
                            d = float(haversine_m(a[1], a[2], b2[1], b2[2]))
                            if d <= s.encounter_distance_m:
                                pair = (min(a[0], b2[0]), max(a[0], b2[0]))
                                first, second = (a, b2) if a[0] < b2[0] else (b2, a)
                                close[pair].append((b, first[3], second[3]))
    out = []
    for (ka, kb), hits in close.items():
        hits = sorted(set(hits))
        bins = np.array([h[0] for h in hits])
        mask = np.zeros(bins.max() - bins.min() + 1, dtype=bool)
        mask[bins - bins.min()] = True
        by_bin = {h[0]: h for h in hits}
        for lo, hi in _runs(mask):
            run = [by_bin[bins.min() + i] for i in range(lo, hi + 1)]
            duration = (hi - lo) * s.step_s
            speeds = np.array([v for h in run for v in h[1:]], dtype=float)
            median = float(np.nanmedian(speeds)) if np.isfinite(speeds).any() else np.inf
            if duration >= s.encounter_min_s and median < s.slow_kn:
                track_a, track_b = tracks[ka], tracks[kb]
                start = grid[bins.min() + lo]
                for me, other in ((track_a, track_b), (track_b, track_a)):
                    out.append(
                        Alert(
                            "vessel",
                            me.mmsi,
                            "vessel_encounter",
                            "high",
                            _ts(start),
                            f"vessel {me.mmsi} was within {int(s.encounter_distance_m)} m of vessel "
                            f"{other.mmsi} for {duration / 3600:.1f} h at a median {median:.2f} knots",
                            f"{other.mmsi}|{start:.0f}",
                            {
                                "mmsi": me.mmsi,
                                "imo": me.imo,
                                "other_mmsi": other.mmsi,
                                "other_imo": other.imo,
                                "start": _ts(start).isoformat(),
                                "end": _ts(start + duration).isoformat(),
                                "median_speed_kn": round(median, 2),
                                "distance_m": int(s.encounter_distance_m),
                                "duration_h": round(float(duration) / 3600, 1),
                            },
                        )
                    )
    return out


def port_calls(track: Track, ports: list[Zone], s: VesselSettings) -> list[dict[str, Any]]:
    out = []
    for zone in ports:
        inside = zone.contains(track.lat, track.lon)
        for a, b in _runs(inside):
            cuts = [a] + [i for i in range(a + 1, b + 1) if track.t[i] - track.t[i - 1] > s.port_call_split_s] + [b + 1]
            for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
                out.append(
                    {
                        "mmsi": track.mmsi,
                        "imo": track.imo,
                        "zone_id": zone.zone_id,
                        "arrival": _ts(track.t[lo]).isoformat(),
                        "departure": _ts(track.t[hi - 1]).isoformat(),
                        "still_in_port": hi == len(track.t),
                        "hours": round((track.t[hi - 1] - track.t[lo]) / 3600, 2),
                    }
                )
    return out


def analyse(tracks: list[Track], ports: list[Zone], s: VesselSettings | None = None) -> VesselReport:
    s = s or VesselSettings()
    report = VesselReport()
    for tr in tracks:
        report.alerts += gaps(tr, s)
        report.alerts += loitering(tr, s, ports)
        report.port_calls += port_calls(tr, ports, s)
    report.alerts += encounters(tracks, s)
    report.alerts.sort(key=lambda a: (a.observed_at, a.context_id))
    return report
