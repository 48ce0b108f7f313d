"""Deadlines: the working-day calendar, the year's deadline rules, the functions BPMN timer expressions
call, timer rows, the deadline ledger and the supervisors' overdue board.

Depends on the models and `people` (who is told); never on the workflow runtime, which uses it.
"""
