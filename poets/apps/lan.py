"""The camera app on a phone on this machine's network (`poets-app --lan`): HTTPS on the LAN
address, a self-signed certificate made once and kept, and the URL as a QR code.

A phone's browser opens the camera only in a secure context, HTTPS or localhost. A
certificate no authority signed gives one once its user accepts the warning; browsers still
refuse a service worker on it, so offline use comes from `poets-app --export` on a real
HTTPS host. The certificate is kept (in the cache dir) and the port fixed because an origin
is scheme, name and port: a new certificate means accepting the warning again, and a new port
leaves behind what the phone stored for the old one.
"""

import datetime
import ipaddress
import os
import socket
import sys
from pathlib import Path

from poets.apps.serving import is_address
from poets.core.failures import UserFailure

PORT = 8443
# Long enough to try models for a year; 397 days is the most Chrome takes for any certificate.
VALID = datetime.timedelta(days=397)
ACCEPT = ("The phone will warn that the connection is not private: the certificate is this machine's own, "
          "made for {names}. Tap Advanced, then Proceed (Safari: Show Details, then visit this website); "
          "it stays accepted for this address and port.")


class NoNetwork(UserFailure, OSError):
    """This machine has no address on a network for a phone to reach."""


def lan_address() -> str:
    """This machine's address on its network: the source address of its route to a public address.
    Connecting a UDP socket only looks the route up; it sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): any routed address would do
            return probe.getsockname()[0]
        except OSError as error:
            raise NoNetwork(f"--lan: this machine has no network address ({error.strerror}); join the phone's "
                            f"Wi-Fi, or give the address with --host") from error


def _names_of(certificate) -> set[str]:
    from cryptography import x509

    try:
        alternatives = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return ({str(a) for a in alternatives.get_values_for_type(x509.IPAddress)}
            | set(alternatives.get_values_for_type(x509.DNSName)))


def certificate(folder: Path, names: list[str]) -> Path:
    """A PEM file holding a private key and a self-signed certificate for every one of `names`
    (addresses and host names): the one kept in `folder` when it covers them all and has a month
    left, else a new one, made for them and for the names the old one covered (a laptop moved
    between two networks keeps one certificate for both)."""
    from cryptography import x509

    path = folder / "lan.pem"
    covered = set()
    if path.is_file():
        try:
            kept = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:  # not a certificate (edited by hand, or cut): made again
            kept = None
        if kept is not None:
            covered = _names_of(kept)
            left = kept.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
            if set(names) <= covered and left > datetime.timedelta(days=30):
                return path
    folder.mkdir(parents=True, exist_ok=True)
    # Key and certificate in one file, replaced at once: never a key beside another key's certificate.
    part = path.with_name(path.name + ".part")
    with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:  # the key: owner only
        out.write(_self_signed(sorted(set(names) | covered)))
    os.replace(part, path)
    return path


def _self_signed(names: list[str]) -> bytes:
    """A new private key and a certificate it signs for `names`, as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"poets-app on {socket.gethostname()}"[:64])])
    made = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + VALID)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(n)) if is_address(n) else x509.DNSName(n) for n in names]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
            + made.public_bytes(serialization.Encoding.PEM))


def tls_context(pem: Path):
    """A server-side TLS context with the key and certificate of `pem`."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


def print_qr(url: str, out=sys.stdout):
    """The URL as a QR code in the terminal, for a phone's camera to open."""
    import segno

    segno.make(url, error="m").terminal(out=out, compact=True)
