"""Operators' commands, as messages: the assessment stage alone applies them to its alerts and zones.

An acknowledgement, a resolution or a comment on an alert, or a zone taken out of force, is a
``command`` line on ``dw.<site>.commands``; the assessment stage applies it between two
assessment steps (never during one, so a step cannot overwrite it), publishes a changed alert
on ``dw.<site>.alerts`` (carrying who and their comment, for storage's alert history) and the
outcome as a ``command_result`` line on ``dw.<site>.results``, where the sender waits for it by
the command's id::

    {"type":"command","id":"9f0c...","t":1764000050.2,"action":"acknowledge","target":"A3",
     "by":"alice","comment":"seen from the gate"}
    {"type":"command_result","id":"9f0c...","status":"done","alert":{"type":"alert",...}}

``target`` is an alert id, or a zone id for ``delete_zone``; ``reload`` has the assessment read
again from storage the allow- and watch-lists (target ``airframes``) or the threat bulletins
(target ``bulletins``). ``status`` is ``done``,
``not_open`` (no such live alert or zone in force) or ``not_started`` (the assessment has no
site yet). Both are JSON Lines, and the scenario
readers skip their types, so a recording of the bus stays a readable scenario file.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal

from dronewatch.assessment.alerts import AlertBook
from dronewatch.errors import ConfigError, FormatError
from dronewatch.formats.scenario import BAD_CHARACTER, parse_line, record_to_dict
from dronewatch.model import Alert

Action = Literal["acknowledge", "resolve", "comment", "delete_zone", "reload"]
ACTIONS: tuple[Action, ...] = ("acknowledge", "resolve", "comment", "delete_zone", "reload")
RELOADED = ("airframes", "bulletins")
Status = Literal["done", "not_open", "not_started"]
MAX_COMMENT = 2000
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    target: str
    by: str
    t: float
    comment: str | None = None
    id: str = ""

    @classmethod
    def new(cls, action: Action, target: str, by: str, t: float, comment: str | None = None) -> Command:
        return cls(action, target, by, t, comment or None, uuid.uuid4().hex)

    def line(self) -> bytes:
        body = {"type": "command", "id": self.id, "t": self.t, "action": self.action, "target": self.target,
                "by": self.by, "comment": self.comment}
        return (json.dumps({k: v for k, v in body.items() if v is not None}) + "\n").encode()


@dataclass(frozen=True, slots=True)
class CommandResult:
    id: str
    status: Status
    alert: Alert | None = None

    def line(self) -> bytes:
        body: dict[str, Any] = {"type": "command_result", "id": self.id, "status": self.status}
        if self.alert is not None:
            body["alert"] = record_to_dict(self.alert)
        return (json.dumps(body) + "\n").encode()


def _object(line: bytes | str, kind: str, where: str) -> dict[str, Any] | None:
    """The JSON object of a ``kind`` line; None for a blank line or another type."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError as error:
        raise FormatError(f"not JSON: {error}", source=where) from None
    if not isinstance(obj, dict):
        raise FormatError("not a JSON object", source=where)
    return obj if obj.get("type") == kind else None


def _text(obj: dict[str, Any], key: str, where: str, limit: int = MAX_NAME, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit or BAD_CHARACTER.search(value):
        raise FormatError(f"{key!r}: a string of 1 to {limit} characters, no control characters, is required",
                          source=where)
    return value


def parse_command(line: bytes | str, where: str) -> Command | None:
    """A ``command`` line; None for a blank line or another type; :class:`FormatError` naming the fault."""
    obj = _object(line, "command", where)
    if obj is None:
        return None
    action = obj.get("action")
    if action not in ACTIONS:
        raise FormatError(f"'action': one of {', '.join(ACTIONS)} is required, not {action!r}", source=where)
    t = obj.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise FormatError("'t': a number is required", source=where)
    return Command(action, str(_text(obj, "target", where)), str(_text(obj, "by", where)), float(t),
                        _text(obj, "comment", where, MAX_COMMENT, required=False), str(_text(obj, "id", where, 64)))


def parse_result(line: bytes | str, where: str) -> CommandResult | None:
    """A ``command_result`` line; None for a blank line or another type."""
    obj = _object(line, "command_result", where)
    if obj is None:
        return None
    status = obj.get("status")
    if status not in ("done", "not_open", "not_started"):
        raise FormatError(f"'status': unknown {status!r}", source=where)
    alert = None
    if isinstance(obj.get("alert"), dict):
        record = parse_line(json.dumps(obj["alert"]), source=where)
        alert = record if isinstance(record, Alert) else None
    return CommandResult(str(_text(obj, "id", where, 64)), status, alert)


def apply_alert_command(book: AlertBook | None, command: Command) -> CommandResult:
    """An alert command applied to the live alerts of ``book`` (None: the assessment has not started)."""
    if book is None:
        return CommandResult(command.id, "not_started")
    try:
        if command.action == "acknowledge":
            changed = book.acknowledge(command.target, command.t, command.by)
        elif command.action == "resolve":
            changed = book.resolve(command.target, command.t, command.by)
        elif command.action == "comment":
            changed = book.commented(command.target, command.t)
        else:
            raise ValueError(f"{command.action} is not a command on an alert")
    except ConfigError:
        return CommandResult(command.id, "not_open")
    return CommandResult(command.id, "done", replace(changed, by=command.by, comment=command.comment))
