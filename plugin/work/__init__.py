"""Working the queue: deciding tickets, posting notes, housekeeping; in-process or on Redis."""
