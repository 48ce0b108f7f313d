"""The workflow: parsing and validating BPMN, deployments and versions, the script sandbox, the serializer,
the runtime that runs one engine command per transaction and writes its derived rows, the sweep that fires
due timers, and incidents with their recovery.

Depends on the models, `people` and `deadlines`.
"""
