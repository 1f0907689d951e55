"""Report renderers: one module per output format, each a pure `render(...)` returning text.

Formats that describe one host have `render(report)`; formats that can hold a fleet (html,
junit, text) also have `render_fleet(reports)`.
"""
