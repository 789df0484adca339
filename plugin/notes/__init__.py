"""Notes: what each action writes (actions) and how an answer is drafted, by a model or from the entries (drafting)."""
