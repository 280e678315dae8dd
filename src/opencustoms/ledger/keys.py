"""Private keys of the ledger, kept in files under ``<data_dir>/ledger/keys`` (directory 0700, files 0600).

The administration key signs the log's checkpoints and certifies officer keys; each officer key signs the entries
its officer makes. Keys never enter the database: only public keys and their certificates (log entries) do.
A file holds the base64 of the 32-byte Ed25519 seed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from opencustoms.ledger.checkpoint import public_bytes
from opencustoms.ledger.errors import (
    AdministrationKeyMissingError,
    KeyStoreError,
    KeyStoreNameError,
    LedgerError,
    OfficerKeyMissingError,
)

_loaded: dict[Path, tuple[tuple[int, ...], Ed25519PrivateKey]] = {}  # path -> (file stamp, key): KeyStore.load
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def key_id(public: bytes) -> str:
    """A key's identifier in entries: the first 16 bytes of SHA-256 of the raw public key, in hex."""
    return hashlib.sha256(public).hexdigest()[:32]


class KeyStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> KeyStore:
        return cls(Path(data_dir) / "ledger" / "keys")

    def check_name(self, name: str, *, field: str = "name") -> None:
        if not _NAME_RE.match(name):
            raise KeyStoreNameError(
                f"key name {name!r} must start with a letter or digit and hold only letters, digits, '.', '_' or "
                "'-' (at most 64 characters)",
                field=field,
            )

    def _path(self, kind: str, name: str) -> Path:
        self.check_name(name)
        return self.root / kind / f"{name}.key"

    def _write(self, path: Path, data: bytes, *, replace: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists() and not replace:
            tmp.unlink()
            raise KeyStoreError(f"{path} already exists; refusing to overwrite a key (rotate it instead)", field="name")
        os.replace(tmp, path)

    def _read(self, path: Path) -> bytes:
        if not path.exists():
            raise KeyStoreError(f"no key at {path}; restore the key store from its backup", field="name")
        if path.stat().st_mode & 0o077:
            raise KeyStoreError(f"{path} is readable by others; run `chmod 600 {path}` (it holds a private key)")
        return path.read_bytes()

    def has(self, kind: str, name: str) -> bool:
        return self._path(kind, name).exists()

    def load(self, kind: str, name: str, missing: LedgerError | None = None) -> Ed25519PrivateKey:
        """The key in a file, checked as ``_read`` checks it on every call (present, not readable by others); the
        parsed key is reused while the file's identity, size, time and mode are unchanged (the writer signs a
        checkpoint per commit: reading and parsing the file each time was a tenth of a single append's cost)."""
        path = self._path(kind, name)
        try:
            st = path.stat()
        except FileNotFoundError:
            if missing is not None:
                raise missing from None
            st = None
        if st is not None and not st.st_mode & 0o077:
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
            cached = _loaded.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        else:
            stamp = None
        seed = base64.b64decode(self._read(path).strip())
        key = Ed25519PrivateKey.from_private_bytes(seed)
        if stamp is not None:
            _loaded[path] = (stamp, key)
        return key

    @staticmethod
    def generate() -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()

    def store(self, kind: str, name: str, key: Ed25519PrivateKey, *, replace: bool = False) -> None:
        """Write ``key`` (0600, flushed to disk). With ``replace``, a previous key is kept beside it as
        ``<name>.<key id prefix>.old``, for the record."""
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        path = self._path(kind, name)
        if replace and path.exists():
            os.replace(path, path.with_suffix(f".{key_id(public_bytes(self.load(kind, name)))[:8]}.old"))
        self._write(path, base64.b64encode(seed) + b"\n", replace=replace)

    def create(self, kind: str, name: str, *, replace: bool = False) -> Ed25519PrivateKey:
        key = self.generate()
        self.store(kind, name, key, replace=replace)
        return key

    def administration_key(self) -> Ed25519PrivateKey:
        return self.load(
            "administration",
            "log",
            missing=AdministrationKeyMissingError(
                f"the administration key is missing from {self.root / 'administration'}; restore the key store "
                "from its backup, or create this node's log with `opencustoms ledger init`"
            ),
        )

    def officer_key(self, username: str) -> Ed25519PrivateKey:
        return self.load(
            "officers",
            username,
            missing=OfficerKeyMissingError(
                f"officer {username!r} has no ledger key on this node; have an administrator run "
                f"`opencustoms ledger officer-key {username}`",
                field="officer",
            ),
        )

    def save_secret(self, name: str, secret: str) -> None:
        self._write(self.root / "secrets" / f"{name}.secret", secret.encode() + b"\n", replace=True)

    def secret(self, name: str) -> str | None:
        path = self.root / "secrets" / f"{name}.secret"
        return self._read(path).decode().strip() if path.exists() else None
