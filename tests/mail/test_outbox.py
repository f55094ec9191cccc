"""Delivery through a real SMTP server (aiosmtpd): STARTTLS with authentication and a certificate
checked against its CA; a server that is not there is a DeliveryError naming the failure, never
an address; without a mail server, .eml files."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collector.mail.compose import Letter, to_message
from collector.mail.outbox import DeliveryError, FileOutbox, SmtpOutbox
from tests.e2e.harness import free_port
from tests.mail.inbox import Inbox, parts, start_smtp


def _message(to: str = "ana@example.com"):
    return to_message(Letter("shop weekly report", "the text", "<p>the html</p>"), "spii <spii@example.org>", to, "weekly.c_1.2027-01-25.ab",
                      "http://127.0.0.1/unsubscribe/x")


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_starttls_with_authentication(tmp_path):
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202 - aiosmtpd's hook
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"spii", b"p@ss word")
        logins.append(ok)
        return AuthResult(success=ok)

    inbox = Inbox()
    server = start_smtp(inbox, tls_context=context, require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    try:
        url = f"smtp+starttls://spii:p%40ss%20word@127.0.0.1:{server.port}"
        SmtpOutbox(url, ca_cert=cert).send(_message())
        [message] = inbox.wait_for(1)
        assert logins == [True] and message["To"] == "ana@example.com" and parts(message) == ("the text", "<p>the html</p>")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and message["Message-ID"] == "<weekly.c_1.2027-01-25.ab@example.org>"
        with pytest.raises(DeliveryError) as untrusted:  # the system CAs do not know this certificate
            SmtpOutbox(url, backoff=0).send(_message())
        assert "ana@example.com" not in untrusted.value.reason
        assert "password" not in repr(SmtpOutbox(url)) and "p%40ss" not in repr(SmtpOutbox(url))
    finally:
        server.stop()


def test_an_unreachable_server_names_the_failure_and_no_address():
    with pytest.raises(DeliveryError) as failed:
        SmtpOutbox(f"smtp://127.0.0.1:{free_port()}", attempts=2, backoff=0).send(_message("secret.person@example.com"))
    assert failed.value.reason == "ConnectionRefusedError" and "secret.person" not in str(failed.value)


def test_without_a_mail_server_messages_are_eml_files(tmp_path):
    FileOutbox(tmp_path / "outbox").send(_message())
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert eml.stat().st_mode & 0o777 == 0o600
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "shop weekly report" and parts(message)[1] == "<p>the html</p>"
