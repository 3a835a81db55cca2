"""The integrity check catalog: facts (command + pure parser) and checks (pure evaluation).

Entry points live in restore.integrity.checks.runner: ``check_host``, ``check_hosts``,
``gather_facts`` (see its docstring for signatures).
"""
