"""One shape for "this input field has this problem": the HTTP layer turns it into a 400 body
``{"field": ..., "problem": ...}``. The problem text never repeats the input (it may be PII)."""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem
