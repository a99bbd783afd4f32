"""The text a Mastermind player reads: the rules prompt, feedback, invalid-move notices, the board.

Shared by :class:`~procmem_gym.envs.mastermind.env.MastermindEnv` and
:class:`~procmem_gym.envs.mastermind.vector.MastermindVectorEnv` so that both emit exactly the
same observations. The first observation of an episode starts with ``You are playing
Mastermind.``; later ones start with ``Submitted [...]`` or ``Invalid move:``, so a skill's
activation pattern can tell the opening from the rest of the game.
"""

from __future__ import annotations

import string

from .rules import MastermindRules, format_guess

#: Every character an observation or a well-formed action can contain.
CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"


def prompt(rules: MastermindRules) -> str:
    """Return the first observation: the rules of this variant and the answer format."""
    repeats = "digits may repeat" if rules.allow_repeats else "all digits are different"
    return (
        "You are playing Mastermind.\n"
        f"Find the secret code: {rules.code_length} digits, each from 1 to {rules.num_digits}, {repeats}.\n"
        f"Answer with your guess in square brackets, for example {rules.example()}.\n"
        "Feedback per guess: a black peg for each right digit in the right position, "
        "a white peg for each right digit in a wrong position.\n"
        "Repeating a guess or breaking the format is an invalid move.\n"
        f"You have {rules.max_turns} guesses."
    )


def history_line(turn: int, guess_text: str, black: int, white: int) -> str:
    """Return one line of the guess history, ``3. [1 2 3 4] -> 2 black, 1 white``."""
    return f"{turn}. {guess_text} -> {black} black, {white} white\n"


def feedback_text(guess_text: str, black: int, white: int) -> str:
    """Return the TextArena-style feedback line for a scored guess (``guess_text`` as from ``format_guess``)."""
    return f"Submitted {guess_text}. Feedback: {black} black peg(s), {white} white peg(s)."


def invalid_text(reason: str, example: str) -> str:
    """Return the notice for an invalid move; it always starts with ``Invalid move:``."""
    return f"Invalid move: {reason} Please submit a valid guess, e.g. {example}."


def status_text(first_line: str, history: str, guesses_left: int) -> str:
    """Return a step observation: the step's message, the guess history, the guesses left."""
    return f"{first_line}\nGuesses so far:{_listing(history)}You have {guesses_left} guesses left."


def _listing(history: str) -> str:
    return "\n" + history if history else " none\n"


def won_text(guess_text: str, code_length: int, turns: int) -> str:
    """Return the observation after the code was cracked."""
    return f"{feedback_text(guess_text, code_length, 0)} You cracked the code in {turns} guesses."


def lost_text(first_line: str, history: str, secret, score: float, why: str) -> str:
    """Return the final observation of a game that ran out of guesses or of allowed invalid moves."""
    return (
        f"{first_line}\nGuesses so far:{_listing(history)}{why} The code was {format_guess(secret)}. "
        f"Score: {score:.3f}."
    )


def board(rules: MastermindRules, history: list[dict], secret, reveal: bool) -> str:
    """Return the board as text for ``render_mode="ansi"``."""
    repeats = "repeats allowed" if rules.allow_repeats else "no repeats"
    width = 3 * rules.code_length + 1
    lines = [
        f"Mastermind: {rules.code_length} digits from 1 to {rules.num_digits}, {repeats}; "
        f"turn {len(history)}/{rules.max_turns}",
        f" #  {'guess':<{width}} black white",
    ]
    for i, entry in enumerate(history, 1):
        lines.append(f"{i:>2}  {format_guess(entry['guess']):<{width}} {entry['black']:>5} {entry['white']:>5}")
    code = format_guess(secret) if reveal else "[" + " ".join("?" * rules.code_length) + "]"
    lines.append(f"code: {code}")
    return "\n".join(lines) + "\n"
