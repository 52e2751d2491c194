"""RADIUS enforcement: FreeRADIUS rows, session packets (CoA/Disconnect) and their outcomes."""
