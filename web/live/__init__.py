"""The live dashboard: the broadcaster that renders regions once and streams them to every browser.

Offers: ``broadcaster.Broadcaster`` (run by the hub's supervisor; ``connect``/``disconnect``
browsers), ``regions`` (the region names, what each needs, ``Renderer``, ``fragment_env``),
``element_ids`` (every element id the page is patched by), ``patches`` (list regions as item
patches), ``staleness`` (which events make which regions stale; pure), ``output`` (live output for
open task panels).
"""
