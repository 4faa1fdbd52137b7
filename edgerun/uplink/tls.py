"""TLS settings for mqtts:// connections.

The context is rebuilt for every connect (in a worker thread: reading files blocks), so a
certificate renewed on disk (cert-manager, an ACME timer) is picked up at the next
reconnect without restarting the gateway. Server certificate and hostname verification are
on unless ``tls_insecure`` is set, which is meant for labs and is logged at every connect.
"""

from __future__ import annotations

import logging
import ssl

import anyio

from edgerun.uplink.config import UplinkConfig

log = logging.getLogger("edgerun.uplink")


class TlsSetupError(Exception):
    """The configured CA, certificate or key cannot be loaded."""


def build_context(config: UplinkConfig) -> ssl.SSLContext:
    """A client context per the config; raises :class:`TlsSetupError`."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file)
        if config.cert_file is not None and config.key_file is not None:
            password = config.key_password.value if config.key_password else None
            ctx.load_cert_chain(config.cert_file, config.key_file, password=password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsSetupError(f"cannot load TLS material: {exc}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.tls_insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def load_context(config: UplinkConfig) -> ssl.SSLContext:
    """:func:`build_context` in a worker thread, warning when verification is off."""
    if config.tls_insecure:
        log.warning(
            "uplink.tls_insecure is set: the broker's certificate and name are NOT verified; "
            "anyone on the path can read and alter the data (use this in a lab only)"
        )
    return await anyio.to_thread.run_sync(build_context, config)


__all__ = ["TlsSetupError", "build_context", "load_context"]
