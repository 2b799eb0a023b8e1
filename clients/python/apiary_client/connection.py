"""Connections to an apiary queen: plaintext on loopback, or mutual TLS with the cluster's CA,
with an optional bearer token sent on every call."""

import ipaddress
from urllib.parse import urlsplit

import grpc

from apiary.v1 import queen_pb2_grpc


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_address(address, tls=False):
    """("host:port", use_tls) for "http://h:p", "https://h:p" or "h:p" (TLS when `tls`)."""
    if "://" not in address:
        return address, tls
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"address {address!r}: use http://host:port, https://host:port or host:port")
    return parts.netloc, parts.scheme == "https"


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call (also on plaintext loopback channels,
    where grpc's call credentials refuse to go)."""

    def __init__(self, token):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        metadata = list(details.metadata or []) + [self._header]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)


def connect(address="http://127.0.0.1:7833", ca=None, cert=None, key=None, token=None, server_name=None):
    """A grpc.Channel to the queen.

    `ca` (a PEM file) means TLS; `cert` and `key` add a client certificate (mutual TLS). grpc's
    Python TLS checks the server's certificate against the address's host name (or
    `server_name`), so issue the queen's certificate with the names clients use (`apiary certs
    issue --queen NAME --loopback`, `--dns`, `--ip`). A token goes only over TLS or to loopback.
    """
    target, use_tls = parse_address(address, tls=ca is not None)
    host = target.rsplit(":", 1)[0]
    if use_tls:
        if ca is None:
            raise ValueError("TLS needs ca= (the cluster's CA bundle)")
        if (cert is None) != (key is None):
            raise ValueError("give both cert= and key=, or neither")
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(ca),
            private_key=_read(key) if key else None,
            certificate_chain=_read(cert) if cert else None,
        )
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        if token and not _is_loopback(host):
            raise ValueError(f"refusing to send a token over plaintext to {target}: use https")
        channel = grpc.insecure_channel(target)
    if token:
        channel = grpc.intercept_channel(channel, _BearerToken(token))
    return channel


def queen_stub(channel):
    """The QueenService client (FindWorkers, Watch, ListHives, …) over the channel."""
    return queen_pb2_grpc.QueenServiceStub(channel)
