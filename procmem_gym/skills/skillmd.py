"""Interchange with the Agent Skills format: one folder per skill holding a ``SKILL.md``.

A ``SKILL.md`` is YAML front matter (``name``, ``description``: when to use the skill, i.e.
its activation condition, and ``metadata``, a map of strings) followed by Markdown: the
procedure (the skill's guidance), its action steps and its termination condition::

    ---
    name: open-with-a-spread-guess
    description: no guess has been made yet
    metadata:
      procmem-id: sk-3f9a2c1e
      activation-patterns: '["^You are playing Mastermind"]'
      steps: '["[1 2 3 4]"]'
      termination-patterns: '[]'
      max-steps: '1'
    ---
    # open with a spread guess

    Guess four different digits ...

    ## Steps
    1. `[1 2 3 4]`

    ## Done when
    a guess has been made

On import, the texts come from the Markdown (so edits made by people take effect) and the
exact patterns, steps and constraint (``metadata.constraint``, JSON; the Markdown's "Allowed
actions" section only describes it) from the metadata; a folder written by another tool, with only a
name, a description and a body, imports as a guidance-only skill.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from procmem_gym.errors import InputNotFoundError, UsageError
from procmem_gym.files.atomic import write_text_atomic
from procmem_gym.files.reading import InputFileError, excerpt, loads_strict, read_text
from procmem_gym.skills.skill import Skill, SkillError

__all__ = ["export_skills", "import_skills", "skill_to_markdown", "skill_from_markdown", "slug"]

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.S)


def slug(name: str) -> str:
    """Return an Agent Skills name: lower-case letters, digits and single hyphens, at most 64 characters."""
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (s[:64].rstrip("-")) or "skill"


def skill_to_markdown(skill: Skill, name: str | None = None) -> str:
    """Return the ``SKILL.md`` text of a skill."""
    description = skill.activation.text or "Use when the observation matches: " + "; ".join(skill.activation.patterns)
    front = {
        "name": name or slug(skill.name),
        "description": description,
        "metadata": {
            "procmem-id": skill.id,
            "title": skill.name,
            "activation-patterns": json.dumps(list(skill.activation.patterns), ensure_ascii=False),
            "steps": json.dumps(list(skill.execution.steps), ensure_ascii=False),
            "termination-patterns": json.dumps(list(skill.termination.patterns), ensure_ascii=False),
            "max-steps": str(skill.termination.max_steps),
            "version": str(skill.lineage.version),
            "method": skill.lineage.method,
        },
    }
    constraint = skill.execution.constraint
    if constraint is not None:
        front["metadata"]["constraint"] = json.dumps(constraint.to_dict(), ensure_ascii=False)
    body = [f"# {skill.name}", "", skill.execution.guidance or "(no guidance)", ""]
    if skill.execution.steps:
        body += ["## Steps"] + [f"{n}. `{s}`" for n, s in enumerate(skill.execution.steps, 1)] + [""]
    if constraint is not None:
        body += ["## Allowed actions", constraint.describe(), ""]
    body += ["## Done when", skill.termination.text or "(see the termination patterns)", ""]
    return (
        "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=10_000) + "---\n" + "\n".join(body)
    )


def _sections(body: str) -> tuple[str | None, dict[str, str]]:
    """Return the title and ``{section heading (lower case): text}``; the text before any ## is ``""``."""
    title = None
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in body.splitlines():
        if line.startswith("# ") and title is None and not any(sections.values()):
            title = line[2:].strip()
        elif line.startswith("## "):
            current = line[3:].strip().lower()
            sections[current] = []
        else:
            sections.setdefault(current, []).append(line)
    return title, {k: "\n".join(v).strip() for k, v in sections.items()}


def _json_list(meta: dict[str, Any], key: str, source: str) -> list[str] | None:
    if key not in meta:
        return None
    try:
        value = loads_strict(meta[key]) if isinstance(meta[key], str) else meta[key]
    except ValueError as err:
        raise SkillError(f"{source}: metadata {key} is not a JSON list ({str(err)[:120]})") from None
    if not isinstance(value, list):
        raise SkillError(f"{source}: metadata {key} must be a JSON list")
    return value


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a front matter cannot expand past its own size."""

    def fetch_alias(self) -> None:  # noqa: D102
        raise yaml.YAMLError("aliases (*name) are not allowed in SKILL.md front matter")

    def fetch_anchor(self) -> None:  # noqa: D102
        raise yaml.YAMLError("anchors (&name) are not allowed in SKILL.md front matter")


#: The largest SKILL.md read.
SKILL_FILE_LIMIT = 1 << 20


def skill_from_markdown(text: str, source: str = "SKILL.md") -> Skill:
    """Return the skill a ``SKILL.md`` describes; raise :class:`SkillError` naming the file and problem."""
    m = _FRONT.match(text.lstrip("\ufeff"))
    if m is None:
        raise SkillError(f"{source}: no YAML front matter (a SKILL.md starts with ---)")
    try:
        front = yaml.load(m.group(1), Loader=_NoAliasLoader) or {}  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else excerpt(str(err), 200)
        raise SkillError(f"{source}: front matter is not valid YAML ({reason})") from None
    if not isinstance(front, dict) or not isinstance(front.get("description"), str):
        raise SkillError(f"{source}: front matter needs a 'description' (when to use the skill)")
    meta = front.get("metadata") or {}
    if not isinstance(meta, dict):
        raise SkillError(f"{source}: metadata must be a map")
    title, sections = _sections(m.group(2))
    guidance = sections.get("", "")
    guidance = "" if guidance == "(no guidance)" else guidance
    steps = _json_list(meta, "steps", source)
    if steps is None:
        steps = [
            re.sub(r"^\d+\.\s*", "", line).strip().strip("`")
            for line in sections.get("steps", "").splitlines()
            if line.strip()
        ]
    done = sections.get("done when", "")
    done = "" if done == "(see the termination patterns)" else done
    patterns = _json_list(meta, "activation-patterns", source) or []
    description = front["description"].strip()
    if patterns and description == "Use when the observation matches: " + "; ".join(patterns):
        description = ""
    try:
        max_steps = int(meta.get("max-steps", 10))
    except (TypeError, ValueError, OverflowError):
        raise SkillError(f"{source}: metadata max-steps must be an integer") from None
    execution: dict[str, Any] = {"guidance": guidance, "steps": steps}
    if "constraint" in meta:  # the exact constraint; the "Allowed actions" section only describes it
        try:
            execution["constraint"] = loads_strict(meta["constraint"]) if isinstance(meta["constraint"], str) else None
        except ValueError as err:
            raise SkillError(f"{source}: metadata constraint is not JSON ({str(err)[:120]})") from None
    data = {
        "name": str(meta.get("title") or title or front.get("name") or "skill"),
        "activation": {"text": description, "patterns": patterns},
        "execution": execution,
        "termination": {
            "text": done,
            "patterns": _json_list(meta, "termination-patterns", source) or [],
            "max_steps": max_steps,
        },
        "lineage": {"method": str(meta.get("method") or "import")},
    }
    if meta.get("procmem-id"):
        data["id"] = str(meta["procmem-id"])
    try:
        return Skill.from_dict(data)
    except SkillError as err:
        raise SkillError(f"{source}: {err}") from None


def export_skills(skills: list[Skill], out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write one folder with a ``SKILL.md`` per skill; return the files written.

    A ``SKILL.md`` already there is overwritten only with ``force`` (it may hold someone's edits),
    and nothing is written through a symlink: every folder and file is checked to lie inside
    ``out_dir``. Both are checked for every skill before the first file is written.
    """
    out_dir = Path(out_dir)
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise UsageError(f"{out_dir}: --out must be a folder (not a file or a symlink)")
    plan, used = [], set()
    for skill in skills:
        name = slug(skill.name)
        base, n = name, 2
        while name in used:
            suffix = f"-{n}"
            name, n = base[: 64 - len(suffix)] + suffix, n + 1
        used.add(name)
        folder, path = out_dir / name, out_dir / name / "SKILL.md"
        if folder.is_symlink() or path.is_symlink():
            raise UsageError(f"{folder}: is a symlink; export writes only inside {out_dir} (nothing was written)")
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder}: a file is where the skill's folder goes; move it (nothing was written)")
        if path.exists() and not force:
            raise UsageError(f"{path} exists (it may hold edits); pass --force to overwrite (nothing was written)")
        plan.append((skill, name, path))
    written = []
    for skill, name, path in plan:
        write_text_atomic(path, skill_to_markdown(skill, name))
        written.append(path)
    return written


def import_skills(folder: str | Path) -> list[Skill]:
    """Read every ``*/SKILL.md`` under ``folder`` (or ``folder/SKILL.md`` itself), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such folder of skills")
    files = [folder / "SKILL.md"] if (folder / "SKILL.md").is_file() else sorted(folder.glob("*/SKILL.md"))
    if not files:
        raise InputNotFoundError(f"{folder}: no SKILL.md found (expected {folder}/<skill>/SKILL.md)")
    root = folder.resolve()
    out = []
    for f in files:
        if not f.resolve().is_relative_to(root):
            raise SkillError(f"{f}: a symlink to outside {folder}; import reads only what lies inside it")
        try:
            text = read_text(f, SKILL_FILE_LIMIT, "SKILL.md")
        except InputFileError as err:
            raise SkillError(str(err)) from None
        out.append(skill_from_markdown(text, str(f)))
    return out
