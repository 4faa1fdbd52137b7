"""IQRF DPA support for edgerun.

Layers, bottom up: ``crc``/``hdlc``/``cdc``/``spi`` (framing of the three interfaces to the
TR module), ``dpa``/``sensor``/``embed`` (the sans-io DPA codec), ``transport`` (one small
async interface over the framings), ``engine`` (DPA transactions), ``sim`` (a mesh
simulator), ``cli`` (``edgerun iqrf``) and ``driver`` (the edgerun driver type ``iqrf``).
docs/iqrf.md describes them.
"""

__all__: list[str] = []
