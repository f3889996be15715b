"""One router per resource family; each module exposes ``router``."""
