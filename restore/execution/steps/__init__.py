"""The step runners: one module per step type (DESIGN §3), each with `run(ctx) -> StepOutcome`
for a real run and `would(ctx) -> StepOutcome` saying, in a dry run, what `run` would do.

Which runner and describer a step type has is declared by its kind
(restore.inputs.step_kinds) and resolved once by restore.execution.runners; in a dry run the
engine calls the describer, never the runner. This package imports nothing itself, so that a
runner outside it (restore.directory.step) can import `steps.base` in any order.
"""
