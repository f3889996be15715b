"""Request and response shapes of the API (``*Public`` out, ``*Create`` / ``*Update`` in).

Dates ``*_on`` are local Asia/Shanghai days (``YYYY-MM-DD``); ``*_at`` are aware ISO 8601
datetimes; sizes are in bytes.
"""
