"""JSON log lines carry the id of the request (or task) they were written for."""

import contextvars
import logging

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("troika_request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True
