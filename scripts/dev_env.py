"""Write a development .env with generated secrets, once.

Run by `make run` and `make test` on first use. It never overwrites an existing .env.
"""

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def main() -> int:
    if ENV_FILE.exists():
        return 0
    ENV_FILE.write_text(
        "# Development settings written by `make run` on first start. Not for production.\n"
        "# Every variable is described in README.md and .env.example.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        f"CRMFLOW_DEMO_PASSWORD={secrets.token_urlsafe(9)}\n"
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE.name} with generated development secrets.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
