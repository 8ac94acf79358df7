"""The one error type handlers raise; middleware turns it into MEXC's ``{"code","msg"}`` body."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self, code: int, msg: str, *, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def missing_param(name: str) -> ApiError:
    return ApiError(
        700004, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid_symbol() -> ApiError:
    return ApiError(-1121, "Invalid symbol.")


def symbol_not_supported() -> ApiError:
    return ApiError(10007, "symbol not support api")
