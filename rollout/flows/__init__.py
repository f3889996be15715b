"""Thin Prefect flows over the domain functions (coarse tasks; the edge opens the units of work)."""
