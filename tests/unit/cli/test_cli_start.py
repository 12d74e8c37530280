"""The command starts fast: ``--help`` and a batch command import none of the service's stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dronewatch.cli import COMMANDS, build_parser

HEAVY = ("fastapi", "sqlalchemy", "alembic", "uvicorn")


def imported_by(*argv: str) -> set[str]:
    code = (f"import sys; from dronewatch.cli import main\ntry: main({list(argv)!r})\nexcept SystemExit: pass\n"
            "print(' '.join(sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.splitlines()[-1].split())  # the last line: after the help text


@pytest.mark.parametrize("argv", [("--help",), ("track", "--help"), ("sim", "--help"), ("score", "--help")])
def test_help_and_batch_commands_leave_the_service_stack_alone(argv: tuple[str, ...]) -> None:
    modules = imported_by(*argv)
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_every_command_is_listed_and_the_chosen_one_has_its_arguments() -> None:
    for name in COMMANDS:
        commands = next(a for a in build_parser(name)._actions if a.dest == "command")
        assert set(commands.choices) == set(COMMANDS)  # type: ignore[arg-type]
        assert len(commands.choices[name]._actions) > 1, name  # type: ignore[index]  # more than -h
