"""UTM on WGS-84: geodetic <-> easting/northing and the grid convergence, to well under a millimetre.

Karney's (2011) form of the Krüger series, to sixth order in the third flattening
``n = f / (2 - f)`` ("Transverse Mercator with an accuracy of a few nanometers",
J. Geodesy 85). With conformal latitude ``τ' = τ √(1+σ²) - σ √(1+τ²)``
(``τ = tan φ``, ``σ = sinh(e artanh(e τ / √(1+τ²)))``) and ``λ`` the longitude from the
central meridian:

    ξ' = atan2(τ', cos λ)                 η' = asinh(sin λ / √(τ'² + cos² λ))
    ξ  = ξ' + Σ αj sin(2jξ') cosh(2jη')   η  = η' + Σ αj cos(2jξ') sinh(2jη')
    easting = 500 000 + k0 A η            northing = k0 A ξ (+ 10 000 000 south of the equator)

with ``k0 = 0.9996`` and ``A = a / (1+n) (1 + n²/4 + n⁴/64 + n⁶/256)``. The inverse runs the
β series backwards and solves ``τ'(τ)`` by Newton's method. The grid convergence ``γ`` is the
angle clockwise from true north to grid north (positive east of the central meridian in the
northern hemisphere): an azimuth from grid north is ``azimuth_true = azimuth_grid + γ``.

Zones are numbered 1-60 from 180° W, six degrees each, with the Norway (32V) and Svalbard
(31X-37X) exceptions. A zone is written ``30U`` with its MGRS latitude band (C-M south of
the equator, N-X north) or, as some senders do, ``30N``/``30S`` for the hemisphere; a band
letter S is read as band S (32-40° N) when the latitude fits it, else as the southern
hemisphere (:func:`utm2geodetic_checked`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dronewatch.errors import FormatError
from dronewatch.geo.frames import WGS84_A, WGS84_F

K0 = 0.9996
FALSE_EASTING_M = 500_000.0
FALSE_NORTHING_SOUTH_M = 10_000_000.0
_N = WGS84_F / (2.0 - WGS84_F)
_E = math.sqrt(WGS84_F * (2.0 - WGS84_F))
_RECT_A = WGS84_A / (1.0 + _N) * (1.0 + _N**2 / 4.0 + _N**4 / 64.0 + _N**6 / 256.0)
_n = _N
_ALPHA = (
    _n / 2 - 2 * _n**2 / 3 + 5 * _n**3 / 16 + 41 * _n**4 / 180 - 127 * _n**5 / 288 + 7891 * _n**6 / 37800,
    13 * _n**2 / 48 - 3 * _n**3 / 5 + 557 * _n**4 / 1440 + 281 * _n**5 / 630 - 1983433 * _n**6 / 1935360,
    61 * _n**3 / 240 - 103 * _n**4 / 140 + 15061 * _n**5 / 26880 + 167603 * _n**6 / 181440,
    49561 * _n**4 / 161280 - 179 * _n**5 / 168 + 6601661 * _n**6 / 7257600,
    34729 * _n**5 / 80640 - 3418889 * _n**6 / 1995840,
    212378941 * _n**6 / 319334400,
)
_BETA = (
    _n / 2 - 2 * _n**2 / 3 + 37 * _n**3 / 96 - _n**4 / 360 - 81 * _n**5 / 512 + 96199 * _n**6 / 604800,
    _n**2 / 48 + _n**3 / 15 - 437 * _n**4 / 1440 + 46 * _n**5 / 105 - 1118711 * _n**6 / 3870720,
    17 * _n**3 / 480 - 37 * _n**4 / 840 - 209 * _n**5 / 4480 + 5569 * _n**6 / 90720,
    4397 * _n**4 / 161280 - 11 * _n**5 / 504 - 830251 * _n**6 / 7257600,
    4583 * _n**5 / 161280 - 108847 * _n**6 / 3991680,
    20648693 * _n**6 / 638668800,
)
BANDS = "CDEFGHJKLMNPQRSTUVWX"
"""MGRS latitude bands, 8° each from 80° S (X is 12°, to 84° N)."""
# Plausible UTM coordinates: beyond these a position is far outside any zone (or not UTM at all).
EASTING_RANGE_M = (100_000.0, 900_000.0)
NORTHING_RANGE_M = (0.0, 10_000_000.0)
_ZONE = re.compile(r"^\s*(\d{1,2})\s*([A-Za-z]?)\s*$")


@dataclass(frozen=True, slots=True)
class UtmZone:
    """A zone number and its letter: an MGRS latitude band, where N and S may also mean the hemisphere."""

    number: int
    band: str | None = None

    @property
    def central_meridian_deg(self) -> float:
        return -183.0 + 6.0 * self.number


def parse_zone(text: str) -> UtmZone:
    """``"30U"``, ``"30N"``, ``"30"`` -> :class:`UtmZone`; FormatError if it is none of those."""
    match = _ZONE.match(text)
    if not match or not 1 <= int(match.group(1)) <= 60:
        raise FormatError(f"UTM zone {text!r}: expected a zone 1-60 and a latitude band or N/S, e.g. 30U")
    number, letter = int(match.group(1)), match.group(2).upper()
    if letter and letter not in BANDS:
        raise FormatError(f"UTM zone {text!r}: {letter!r} is neither a latitude band (C-X, no I or O) nor N/S")
    return UtmZone(number, letter or None)


def band_limits_deg(band: str) -> tuple[float, float]:
    """South and north latitude of an MGRS band."""
    k = BANDS.index(band)
    south = -80.0 + 8.0 * k
    return south, 84.0 if band == "X" else south + 8.0


def zone_of(lat_deg: float, lon_deg: float) -> int:
    """The standard UTM zone of a position, with the Norway and Svalbard exceptions."""
    lon = (lon_deg + 180.0) % 360.0 - 180.0
    number = min(int((lon + 180.0) // 6.0) + 1, 60)
    if 56.0 <= lat_deg < 64.0 and 3.0 <= lon < 12.0:
        return 32
    if 72.0 <= lat_deg <= 84.0 and 0.0 <= lon < 42.0:
        for limit, zone in ((9.0, 31), (21.0, 33), (33.0, 35), (42.0, 37)):
            if lon < limit:
                return zone
    return number


def _conformal_tau(tau: float) -> float:
    sigma = math.sinh(_E * math.atanh(_E * tau / math.hypot(1.0, tau)))
    return tau * math.hypot(1.0, sigma) - sigma * math.hypot(1.0, tau)


def _forward(lat_deg: float, lon_deg: float, zone: int) -> tuple[float, float, float]:
    """(x from the central meridian, y from the equator, convergence) in metres, metres, degrees."""
    lam = math.radians((lon_deg - (-183.0 + 6.0 * zone) + 180.0) % 360.0 - 180.0)
    tau_p = _conformal_tau(math.tan(math.radians(lat_deg))) if abs(lat_deg) < 90.0 else math.copysign(math.inf,
                                                                                                     lat_deg)
    xi_p = math.atan2(tau_p, math.cos(lam)) if math.isfinite(tau_p) else math.copysign(math.pi / 2, tau_p)
    eta_p = math.asinh(math.sin(lam) / math.hypot(tau_p, math.cos(lam))) if math.isfinite(tau_p) else 0.0
    xi, eta, p, q = xi_p, eta_p, 1.0, 0.0
    for j, alpha in enumerate(_ALPHA, start=1):
        s, c = math.sin(2 * j * xi_p), math.cos(2 * j * xi_p)
        sh, ch = math.sinh(2 * j * eta_p), math.cosh(2 * j * eta_p)
        xi += alpha * s * ch
        eta += alpha * c * sh
        p += 2 * j * alpha * c * ch
        q += 2 * j * alpha * s * sh
    gamma_p = math.atan2(tau_p * math.tan(lam), math.hypot(1.0, tau_p)) if math.isfinite(tau_p) else lam
    gamma = gamma_p + math.atan2(q, p)
    return K0 * _RECT_A * eta, K0 * _RECT_A * xi, math.degrees(gamma)


def geodetic2utm(lat_deg: float, lon_deg: float, zone: int | None = None) -> tuple[float, float, int, bool]:
    """Latitude, longitude (degrees) to (easting m, northing m, zone, northern hemisphere)."""
    number = zone if zone is not None else zone_of(lat_deg, lon_deg)
    x, y, _ = _forward(lat_deg, lon_deg, number)
    north = lat_deg >= 0.0
    return FALSE_EASTING_M + x, y if north else y + FALSE_NORTHING_SOUTH_M, number, north


def convergence_deg(lat_deg: float, lon_deg: float, zone: int | None = None) -> float:
    """Grid convergence at a position: degrees clockwise from true north to grid north of ``zone``."""
    return _forward(lat_deg, lon_deg, zone if zone is not None else zone_of(lat_deg, lon_deg))[2]


def utm2geodetic(easting_m: float, northing_m: float, zone: int, north: bool) -> tuple[float, float]:
    """(easting, northing) metres in ``zone`` and hemisphere to latitude, longitude in degrees."""
    xi = (northing_m - (0.0 if north else FALSE_NORTHING_SOUTH_M)) / (K0 * _RECT_A)
    eta = (easting_m - FALSE_EASTING_M) / (K0 * _RECT_A)
    xi_p, eta_p = xi, eta
    for j, beta in enumerate(_BETA, start=1):
        xi_p -= beta * math.sin(2 * j * xi) * math.cosh(2 * j * eta)
        eta_p -= beta * math.cos(2 * j * xi) * math.sinh(2 * j * eta)
    tau_p = math.sin(xi_p) / math.hypot(math.sinh(eta_p), math.cos(xi_p))
    lam = math.atan2(math.sinh(eta_p), math.cos(xi_p))
    tau = tau_p
    e2m = 1.0 - _E * _E
    for _ in range(6):  # Newton on τ'(τ): converges to machine precision in two or three steps
        tau_i = _conformal_tau(tau)
        step = (tau_p - tau_i) / math.hypot(1.0, tau_i) * (1.0 + e2m * tau * tau) / (e2m * math.hypot(1.0, tau))
        tau += step
        if abs(step) < 1e-14 * max(1.0, abs(tau)):
            break
    lon = math.degrees(lam) + (-183.0 + 6.0 * zone)
    return math.degrees(math.atan(tau)), (lon + 180.0) % 360.0 - 180.0


def utm2geodetic_checked(easting_m: float, northing_m: float, zone: UtmZone, where: str
                         ) -> tuple[float, float]:
    """:func:`utm2geodetic` for a received position, refusing what cannot be UTM in that zone.

    The easting must lie within 100-900 km and the northing within 0-10 000 km, and the latitude
    the coordinates give must fall in the zone's band (within 0.5°). The letters N and S are
    read as a band or as the hemisphere, whichever fits (N: any northern latitude; S: band S,
    else the southern hemisphere). A zone without a letter is refused: the hemisphere is unknown.
    FormatError names ``where`` and says what did not fit.
    """
    if not (math.isfinite(easting_m) and math.isfinite(northing_m)):
        raise FormatError(f"{where}: easting and northing must be finite numbers")
    low, high = EASTING_RANGE_M
    hint = ("; x and y look like degrees (longitude and latitude, or the other way round), not UTM metres"
            if abs(easting_m) <= 180.0 and abs(northing_m) <= 180.0 else "")
    if not low <= easting_m <= high:
        raise FormatError(f"{where}: easting x={easting_m!r} m is outside UTM zone {zone.number} "
                          f"({low:.0f}-{high:.0f} m){hint}")
    if not NORTHING_RANGE_M[0] <= northing_m <= NORTHING_RANGE_M[1]:
        raise FormatError(f"{where}: northing y={northing_m!r} m is outside 0-10000000 m{hint}")
    if zone.band is None:
        raise FormatError(f"{where}: UTM zone {zone.number} without a latitude band or hemisphere is ambiguous; "
                          f"write e.g. {zone.number}U or {zone.number}N")
    readings: list[tuple[bool, str | None]]
    if zone.band == "N":
        readings = [(True, None)]
    elif zone.band == "S":
        readings = [(True, "S"), (False, None)]
    else:
        readings = [(zone.band > "N", zone.band)]
    lat = math.nan
    for north, band in readings:
        lat, lon = utm2geodetic(easting_m, northing_m, zone.number, north)
        if band is None:
            return lat, lon
        south, north_limit = band_limits_deg(band)
        if south - 0.5 <= lat <= north_limit + 0.5:
            return lat, lon
    south, north_limit = band_limits_deg(zone.band)
    raise FormatError(f"{where}: x={easting_m!r} y={northing_m!r} in zone {zone.number}{zone.band} is at latitude "
                      f"{lat:.4f}°, outside band {zone.band} ({south:g}° to {north_limit:g}°)")
