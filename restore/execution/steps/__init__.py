"""The step runners: one module per step type (DESIGN §3), each with `run(ctx) -> StepOutcome`.

Which runner a step type has is declared by its kind (restore.inputs.step_kinds) and
resolved once by restore.execution.runners. This package imports nothing itself, so that a
runner outside it (restore.directory.step) can import `steps.base` in any order.
"""
