"""Resource kinds of simple-dcos: pydantic models, validation and JSON schemas.

No I/O lives here. :mod:`crds.meta` is the envelope every kind shares,
:mod:`crds.registry` maps kind names to classes, one module per kind holds its
spec and status, and :mod:`crds.errors` is the error hierarchy every layer
uses. The JSON schemas in ``crds/schemas/`` are generated from these models
(``make schemas``); ``dcosctl explain`` reads them.
"""
