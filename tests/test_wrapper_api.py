"""The wrapper's shape: Gymnasium's single/vector pair, a typed info["procmem"], no silent overwrite, bookkeeping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import procmem_gym
from procmem_gym import ProceduralMemory, ProceduralMemoryVectorWrapper, ProceduralMemoryWrapper, ProcmemInfo
from procmem_gym.errors import UsageError
from procmem_gym.wrappers.episode import Bookkeeping

EXAMPLE = "examples/mastermind-v0-memory.json"


@pytest.fixture
def memory(monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[1])
    return ProceduralMemory.load(EXAMPLE, embedder="hashing")


def test_isinstance_tells_the_truth(memory):
    single = procmem_gym.wrap(gym.make("procmem_gym/Mastermind-v0"), memory)
    assert isinstance(single, ProceduralMemoryWrapper) and isinstance(single, gym.Wrapper)
    vec = procmem_gym.wrap(gym.make_vec("procmem_gym/Mastermind-v0", 2, vectorization_mode="sync"), memory)
    assert isinstance(vec, ProceduralMemoryVectorWrapper) and isinstance(vec, gym.vector.VectorWrapper)
    assert not isinstance(vec, ProceduralMemoryWrapper)
    single.close()
    vec.close()


def test_the_old_vector_spelling_still_works_and_says_what_it_returns(memory):
    venv = gym.make_vec("procmem_gym/Mastermind-v0", 2, vectorization_mode="sync")
    with pytest.warns(DeprecationWarning, match="ProceduralMemoryVectorWrapper"):
        env = ProceduralMemoryWrapper(venv, memory, mode="guide")
    assert type(env) is ProceduralMemoryVectorWrapper
    obs, info = env.reset(seed=0)
    assert len(info["procmem"]) == 2
    env.close()


class _ClaimsProcmem(gym.Env):
    observation_space = gym.spaces.Text(100)
    action_space = gym.spaces.Text(100)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "hello", {"procmem": "the env's own"}

    def step(self, action):
        return "hello", 0.0, True, False, {"procmem": "the env's own"}


def test_an_env_info_that_holds_procmem_is_an_error_not_overwritten():
    env = ProceduralMemoryWrapper(_ClaimsProcmem())
    with pytest.raises(UsageError, match='already holds a "procmem" key'):
        env.reset(seed=0)
    vec = ProceduralMemoryVectorWrapper(gym.vector.SyncVectorEnv([_ClaimsProcmem, _ClaimsProcmem]))
    with pytest.raises(UsageError, match="procmem"):
        vec.reset(seed=0)


def test_report_is_the_typed_record_of_info_procmem(memory):
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode="inject")
    obs, info = env.reset(seed=0)
    for _ in range(4):
        record = env.report
        assert isinstance(record, ProcmemInfo)
        assert record.to_dict() == info["procmem"]
        assert ProcmemInfo.from_dict(info["procmem"]) == record
        with pytest.raises(AttributeError):
            record.guidance = "edited"  # frozen
        obs, _, term, trunc, info = env.step("[1 2 3 4]")
        if term or trunc:
            break
    env.close()


def test_constructor_args_are_recorded_through_gymnasiums_public_constructor(memory):
    env = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), memory, mode="inject")
    assert "_saved_kwargs" not in vars(ProceduralMemoryWrapper)  # no override of Gymnasium's private attribute
    kwargs = env.spec.additional_wrappers[-1].kwargs
    assert kwargs["mode"] == "inject" and kwargs["memory"].endswith("mastermind-v0-memory.json")
    env.close()


def test_bookkeeping_in_one_object_and_the_old_keywords_still_work(memory, tmp_path):
    books = Bookkeeping(episode_offset=5, episode_ids=(7, 9))
    env = ProceduralMemoryWrapper(
        gym.make("procmem_gym/Mastermind-v0"), log_path=tmp_path / "a.jsonl", bookkeeping=books
    )
    for seed in (0, 1):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, term, trunc, _ = env.step("[1 2 3 4]")
            done = term or trunc
    assert [r.episode for r in env.episodes] == [7, 9] and env.episodes_begun == 7
    env.close()
    with pytest.warns(DeprecationWarning, match="bookkeeping"):
        old = ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), episode_offset=5, episode_ids=[7, 9])
    assert old.bookkeeping == books
    with pytest.raises(TypeError, match="unexpected keyword"):
        ProceduralMemoryWrapper(gym.make("procmem_gym/Mastermind-v0"), no_such_argument=1)


def test_every_constructor_argument_is_documented():
    import inspect

    for cls in (ProceduralMemoryWrapper, ProceduralMemoryVectorWrapper):
        doc = cls.__doc__
        args = doc[doc.index("Args:") :]
        for name in inspect.signature(cls.__init__).parameters:
            if name in ("self", "legacy"):
                continue
            assert f"\n        {name}:" in args, f"{cls.__name__}: {name} is not in Args:"


def test_vector_report_per_sub_env(memory):
    vec = ProceduralMemoryVectorWrapper(gym.make_vec("procmem_gym/Mastermind-v0", 2, vectorization_mode="sync"), memory)
    _, info = vec.reset(seed=0)
    assert [vec.report(i).to_dict() for i in range(2)] == list(info["procmem"])
    assert isinstance(info["procmem"], np.ndarray)
    vec.close()
