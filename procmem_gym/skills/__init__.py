"""Skills: the unit of procedural memory and everything a skill is made of.

A :class:`Skill` (:mod:`.skill`) is an option of the Skill-MDP: an activation condition, an
execution (guidance, action steps, a :class:`Constraint` from :mod:`.constraint`) and a
termination condition. Its regex patterns run on RE2 (:mod:`.patterns`); its score is computed
by :mod:`.scoring`; :mod:`.skillmd` reads and writes skills as Agent Skills ``SKILL.md`` folders.
"""

from procmem_gym.skills.constraint import Constraint, ConstraintError
from procmem_gym.skills.patterns import PatternError
from procmem_gym.skills.skill import LIMITS, Lineage, Skill, SkillError, SkillStats

__all__ = ["Skill", "SkillError", "SkillStats", "Lineage", "LIMITS", "Constraint", "ConstraintError", "PatternError"]
