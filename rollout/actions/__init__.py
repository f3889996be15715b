"""What units do through the API and the CLI, as domain functions over a ``Session``.

- ``tokens``: API tokens (issue, authenticate, revoke).
- ``scope``: which tasks an actor sees and acts on.
- ``documents``: document numbers (文号) and file types from the bytes.
- ``filings``: filings (备案) that submit a unit's filing task.
- ``reviews``: a city's sign-off (复核) of one county's catalogs.
- ``extensions``: extension requests (延期申请) and their decisions.
- ``contacts``: organizations' contacts (联络人).

Same layer as ``catalogs`` and ``notifications``: they use ``workflow``, ``plans`` and the
models, never the database module; they take a ``Session`` and ``now`` and never commit.
"""
