"""Errors of the exchange between administrations. Each says what was wrong and what to do; ``field`` names the
offending input, so the API answers a problem+json naming it."""

from __future__ import annotations

from opencustoms.errors import ConflictError, NotFoundError, OpenCustomsError


class ExchangeError(OpenCustomsError):
    title = "Exchange error"


class AgreementError(ExchangeError):
    status = 422
    title = "Agreement rejected"


class MessageRejectedError(ExchangeError):
    """A message whose signature, shape, sender or receiver does not hold: nothing is stored but the refusal."""

    status = 422
    title = "Message rejected"


class UnknownPartnerError(ExchangeError):
    """The sender is no registered partner, or the caller is not the administration the message claims."""

    status = 403
    title = "Unknown partner"


class ReplayedMessageError(ConflictError):
    """A message id already received with other content, or a message outside the replay window."""

    title = "Message replayed"


class ExchangeNotFoundError(NotFoundError):
    title = "Not found in the exchange"
