"""Use cases. Each function works inside a unit of work (a Session) opened by its caller."""
