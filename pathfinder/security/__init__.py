"""Cryptography: secrets, key management, field encryption, passwords, tokens, TOTP."""
