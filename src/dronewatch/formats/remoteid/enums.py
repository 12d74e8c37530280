"""Remote ID (ASTM F3411 / ASD-STAN EN 4709-002) enumerations. Codes a version does not define
decode to ``None`` (see :func:`enum_or_none`), never to a sentinel number."""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

E = TypeVar("E", bound=IntEnum)


class MessageType(IntEnum):
    BASIC_ID = 0
    LOCATION = 1
    AUTHENTICATION = 2
    SELF_ID = 3
    SYSTEM = 4
    OPERATOR_ID = 5
    MESSAGE_PACK = 15


class IdType(IntEnum):
    NONE = 0
    SERIAL_NUMBER = 1
    CAA_REGISTRATION_ID = 2
    UTM_ASSIGNED_UUID = 3
    SPECIFIC_SESSION_ID = 4


class UaType(IntEnum):
    NONE = 0
    AEROPLANE = 1
    HELICOPTER_OR_MULTIROTOR = 2
    GYROPLANE = 3
    HYBRID_LIFT = 4
    ORNITHOPTER = 5
    GLIDER = 6
    KITE = 7
    FREE_BALLOON = 8
    CAPTIVE_BALLOON = 9
    AIRSHIP = 10
    FREE_FALL_PARACHUTE = 11
    ROCKET = 12
    TETHERED_POWERED_AIRCRAFT = 13
    GROUND_OBSTACLE = 14
    OTHER = 15


class OperationalStatus(IntEnum):
    UNDECLARED = 0
    GROUND = 1
    AIRBORNE = 2
    EMERGENCY = 3
    REMOTE_ID_SYSTEM_FAILURE = 4


class HeightType(IntEnum):
    ABOVE_TAKEOFF = 0
    ABOVE_GROUND_LEVEL = 1


class HorizontalAccuracy(IntEnum):
    """95 % bound of the horizontal position; the member name gives the bound."""

    UNKNOWN = 0
    LT_18520_M = 1
    LT_7408_M = 2
    LT_3704_M = 3
    LT_1852_M = 4
    LT_926_M = 5
    LT_555_6_M = 6
    LT_185_2_M = 7
    LT_92_6_M = 8
    LT_30_M = 9
    LT_10_M = 10
    LT_3_M = 11
    LT_1_M = 12


class VerticalAccuracy(IntEnum):
    """95 % bound of an altitude (geodetic or barometric)."""

    UNKNOWN = 0
    LT_150_M = 1
    LT_45_M = 2
    LT_25_M = 3
    LT_10_M = 4
    LT_3_M = 5
    LT_1_M = 6


class SpeedAccuracy(IntEnum):
    UNKNOWN = 0
    LT_10_MPS = 1
    LT_3_MPS = 2
    LT_1_MPS = 3
    LT_0_3_MPS = 4


class AuthType(IntEnum):
    NONE = 0
    UAS_ID_SIGNATURE = 1
    OPERATOR_ID_SIGNATURE = 2
    MESSAGE_SET_SIGNATURE = 3
    NETWORK_REMOTE_ID = 4
    SPECIFIC_METHOD = 5
    PRIVATE_10 = 10
    PRIVATE_11 = 11
    PRIVATE_12 = 12
    PRIVATE_13 = 13
    PRIVATE_14 = 14
    PRIVATE_15 = 15


class DescriptionType(IntEnum):
    TEXT = 0
    EMERGENCY = 1
    EXTENDED_STATUS = 2


class OperatorLocationType(IntEnum):
    TAKEOFF = 0
    LIVE_GNSS = 1
    FIXED = 2


class ClassificationType(IntEnum):
    UNDECLARED = 0
    EUROPEAN_UNION = 1


class EuCategory(IntEnum):
    UNDECLARED = 0
    OPEN = 1
    SPECIFIC = 2
    CERTIFIED = 3


class EuClass(IntEnum):
    """Beware the off-by-one of the wire: code 2 is class C1."""

    UNDECLARED = 0
    C0 = 1
    C1 = 2
    C2 = 3
    C3 = 4
    C4 = 5
    C5 = 6
    C6 = 7


def enum_or_none(cls: type[E], code: int) -> E | None:
    """The member for ``code``, or ``None`` for a code the standard leaves reserved or undefined."""
    try:
        return cls(code)
    except ValueError:
        return None
