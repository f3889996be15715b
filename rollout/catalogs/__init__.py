"""Disclosure-item catalogs (公开事项标准目录): the guideline table shape (``tabular``), element
checks (``checks``), the national guidelines' item lists (``guidelines``), the service-platform
list (``service_list``), storage and versions (``store``) and the compile (``compile``)."""
