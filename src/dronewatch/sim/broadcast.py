"""The simulated drones' Remote ID broadcasts as a Wi-Fi capture (pcapng, plain 802.11).

Each ``remoteid`` detection the simulator makes is a broadcast its receiver heard: it
becomes one beacon carrying a message pack (Basic ID, Location, System when the operator's
position is known) from a transmitter address derived from the UAS ID, at the detection's
time. ``dronewatch remoteid detections`` on the capture gives the detections back, to the
message encoding's resolution.
"""

from __future__ import annotations

import hashlib
from typing import IO

from dronewatch.formats.capture import LINKTYPE_IEEE802_11, PcapngWriter
from dronewatch.formats.remoteid import BasicId, Location, Message, MessagePack, System, encode
from dronewatch.formats.remoteid.enums import IdType, OperationalStatus, OperatorLocationType, UaType
from dronewatch.formats.remoteid.wifi import beacon_frame
from dronewatch.model import Detection

_HOUR_S = 3600.0


def transmitter_address(uas_id: str) -> str:
    """A stable, locally administered unicast MAC address for one UAS."""
    raw = bytearray(hashlib.sha256(uas_id.encode()).digest()[:6])
    raw[0] = (raw[0] | 0x02) & 0xFE
    return ":".join(f"{b:02x}" for b in raw)


def broadcast_pack(detection: Detection) -> MessagePack:
    """The message pack a drone sends for what the receiver reported as ``detection``."""
    messages: list[Message] = [
        BasicId(id_type=IdType.SERIAL_NUMBER, ua_type=UaType.HELICOPTER_OR_MULTIROTOR, uas_id=detection.uas_id or ""),
        Location(status=OperationalStatus.AIRBORNE, lat=detection.lat, lon=detection.lon,
                 geodetic_altitude_m=detection.alt, speed_mps=detection.speed_mps, direction_deg=detection.track_deg,
                 timestamp_s=round(detection.t % _HOUR_S, 1) % _HOUR_S),
    ]
    if detection.operator_lat is not None and detection.operator_lon is not None:
        messages.append(System(operator_location_type=OperatorLocationType.LIVE_GNSS,
                               operator_lat=detection.operator_lat, operator_lon=detection.operator_lon,
                               timestamp=float(int(detection.t))))
    return MessagePack(tuple(messages))


class RemoteIdCaptureWriter:
    """Feed every simulated record to :meth:`add`; Remote ID detections go to the capture."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._capture = PcapngWriter(stream, LINKTYPE_IEEE802_11)
        self._counters: dict[str, int] = {}

    @property
    def frames(self) -> int:
        return self._capture.frames

    def add(self, record: object) -> None:
        if not isinstance(record, Detection) or record.uas_id is None or record.lat is None:
            return
        sender = transmitter_address(record.uas_id)
        counter = self._counters.get(sender, 0)
        self._counters[sender] = counter + 1
        frame = beacon_frame(sender, counter, encode(broadcast_pack(record)), sequence=counter)
        self._capture.write(record.t, frame)
