"""The OpenID Connect signing key: from the environment, or generated once for the embedded default.

Production sets `OIDC_RSA_PRIVATE_KEY` (a PEM). Without it, a 2048-bit RSA key is generated on first
start into `var/oidc_rsa_private_key.pem` (gitignored) and reused after, so id_tokens stay valid
across restarts and every worker process signs with the same key. Imported by settings: no Django.
"""

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _generate_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_once(path: Path, pem: bytes) -> None:
    # Several workers may start at once: write a private temporary file, then link it into place;
    # the link fails for all but the first, and they read the winner's key.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(pem)
    temporary.chmod(0o600)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def oidc_private_key_pem(*, from_env: str, key_file: Path) -> str:
    """The PEM to sign id_tokens with: `from_env` if set, else the key in `key_file` (made once)."""
    if from_env.strip():
        return from_env.replace("\\n", "\n")
    if not key_file.exists():
        _write_once(key_file, _generate_pem())
    return key_file.read_text()
