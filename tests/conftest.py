"""Make ``tests/`` importable from every test module, so shared code has one home.

Under pytest's default ``prepend`` import mode a ``conftest.py`` puts its own directory on
``sys.path`` before any test module is collected: ``tests/properties/*`` can then import
``_oracles`` and ``_builders`` (the shared oracles and instance builders) without
``sys.path`` edits, and no test module needs to import another test module.
"""
