"""One error root: every project exception is a ProcMemError and keeps its builtin base; the CLI prints those as
one line and lets anything else show its traceback."""

from __future__ import annotations

import pytest
from procmem_gym.agents.factory import AgentError
from procmem_gym.agents.hf_policy import ModelNotFoundError
from procmem_gym.agents.openai_policy import ServerError
from procmem_gym.envs.alfworld import ALFWorldDataError
from procmem_gym.envs.mastermind.rules import InvalidGuessError

from procmem_gym import MemoryFormatError, ProcMemError, SkillError
from procmem_gym.cli import main as cli_main
from procmem_gym.cli.common import CommandError
from procmem_gym.errors import InputNotFoundError, MissingExtraError, UsageError
from procmem_gym.learning.loop import LearnError
from procmem_gym.learning.memp import TrajectoryFormatError
from procmem_gym.rollouts.runfolder import RunFolderError
from procmem_gym.rollouts.transitions import LogFormatError
from procmem_gym.skills.patterns import PatternError


@pytest.mark.parametrize(
    "error, builtin",
    [
        (MemoryFormatError, ValueError),
        (SkillError, ValueError),
        (PatternError, ValueError),
        (LogFormatError, ValueError),
        (AgentError, ValueError),
        (UsageError, ValueError),
        (InvalidGuessError, ValueError),
        (TrajectoryFormatError, ValueError),
        (ModelNotFoundError, FileNotFoundError),
        (ALFWorldDataError, FileNotFoundError),
        (InputNotFoundError, FileNotFoundError),
        (MissingExtraError, ImportError),
        (ServerError, RuntimeError),
        (CommandError, RuntimeError),
        (LearnError, RuntimeError),
        (RunFolderError, RuntimeError),
    ],
)
def test_every_project_error_has_one_root_and_keeps_its_builtin_base(error, builtin):
    assert issubclass(error, ProcMemError) and issubclass(error, builtin)


def test_the_cli_prints_project_errors_as_one_line(tmp_path, capsys):
    assert cli_main.main(["memory", "show", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert "missing.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_internal_bug_is_not_disguised_as_a_user_error(monkeypatch, tmp_path):
    def broken(args, console):
        raise ValueError("a bug, not the user's mistake")

    monkeypatch.setattr(cli_main.memory_cmd, "show_cmd", broken)
    with pytest.raises(ValueError, match="a bug"):
        cli_main.main(["memory", "show", str(tmp_path / "m.json")])
