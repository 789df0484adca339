"""Knowledge: the entry files (entries) and searching them (retrieval, scoretable)."""
