"""The deciding side: a processor decides tickets, a poster posts notes, a housekeeper keeps
house, a loop runs them; the web side tells them what waits through a dispatcher (a pipe to
`vigil serve`'s decider process, or Redis for `vigil worker` processes)."""
