"""One table maps an env id to its family, by the entry point it is registered with."""

from __future__ import annotations

import gymnasium as gym
from procmem_gym.agents.prompts import template_for
from procmem_gym.envs.families import family_of


def test_registered_ids_belong_to_their_family(mastermind_id):
    family = family_of(mastermind_id)
    assert family.name == "mastermind" and family.success_key == "success" and "solver" in family.agents
    assert template_for(mastermind_id).name == "mastermind"


def test_alfworld_and_other_envs():
    assert family_of("procmem_gym/ALFWorld-v0").name == "alfworld"
    assert family_of("CartPole-v1").name == "generic" and family_of("no/such-id").name == "generic"
    assert template_for("CartPole-v1").name == "default"


def test_a_variant_registered_by_a_user_belongs_to_the_family():
    env_id = "tests/Mastermind-5x9-v0"
    if env_id not in gym.registry:
        gym.register(
            env_id,
            entry_point="procmem_gym.envs.mastermind.env:MastermindEnv",
            kwargs=dict(code_length=5, num_digits=9),
        )
    assert family_of(env_id).name == "mastermind"  # the id says nothing; the entry point does
