"""A confidence that means something: the chance a reviewer accepts the proposal.

Two steps. `evidence_score` rates what the cases show (the customer confirmed the answer, it
cites a help document of the desk's own, it shares words with the question, several tickets
asked the same): a prior, fixed weights. `calibrate` then turns it into the acceptance rate
of past proposals with a similar score, from the outcomes `vigil proposals` recorded
(merged as is, merged after edits, closed), shrunk toward the prior while those are few.
The pull request is ordered by it, and proposals under `learn_min_confidence` are dropped.
"""

from __future__ import annotations

import math
from typing import Iterable

ACCEPTANCE = {"merged": 1.0, "edited": 0.75, "closed": 0.0}  # what each outcome says of a proposal
NEIGHBOURHOOD = 0.15  # past proposals within this of the score are "similar"
PRIOR_WEIGHT = 4.0  # the prior counts as this many past outcomes


def evidence_score(confirmed: bool, help_links: int, shared_words: int, tickets: int, answer_words: int) -> float:
    """The prior, in (0, 1): a logistic over what the cases show (weights set by hand, then calibrated)."""
    x = (-1.2 + 1.2 * confirmed + 0.8 * (help_links > 0) + 0.35 * min(shared_words, 4)
         + 0.5 * math.log2(max(tickets, 1)) + 0.4 * (answer_words >= 15) - 0.6 * (answer_words < 8))
    return round(1 / (1 + math.exp(-x)), 3)


def calibrate(score: float, history: Iterable[tuple[float | None, str]]) -> float:
    """The acceptance of past proposals scored near `score`, shrunk toward `score` itself."""
    similar = [ACCEPTANCE[state] for past, state in history
               if past is not None and state in ACCEPTANCE and abs(past - score) <= NEIGHBOURHOOD]
    return round((sum(similar) + PRIOR_WEIGHT * score) / (len(similar) + PRIOR_WEIGHT), 3)


def acceptance(history: Iterable[tuple[float | None, str]]) -> dict[str, float | int | None]:
    """How reviewers decided so far: counts, and the share accepted (as is or after edits)."""
    states = [state for _, state in history if state in ACCEPTANCE]
    counts = {state: states.count(state) for state in ACCEPTANCE}
    decided = len(states)
    return {**counts, "decided": decided,
            "accepted": round((counts["merged"] + counts["edited"]) / decided, 3) if decided else None}
