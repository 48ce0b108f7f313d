"""Reports: a year's statistics per type and unit, and the Excel imports and exports.

The top layer of the domain: reads `items`, `deadlines` and the read model; nothing imports it back.
"""
