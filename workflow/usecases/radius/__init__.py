"""RADIUS enforcement: FreeRADIUS's rows, live sessions and their CoA/Disconnect (docs/radius.md)."""
