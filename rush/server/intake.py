"""Request bodies on the server's side: one plan per head, parts handed on after parsing.

For each request head that announces a body the app is asked once, after the parser returned,
what to do with it (`Handler.body_plan`: a limit, a sink or None to keep it in memory, whether
the body is wanted at all). The parts the parser collected are handed to the sink here, never
from inside a parser callback, since a sink runs app code (a stream route's generator, a
multipart parser). A sink that returns True from `write` refused the rest (a form limit): the
connection answers 413 without reading it. Nothing here touches the socket.
"""

from __future__ import annotations

from rush.protocol import ProtocolError, RequestMessage
from rush.server.context import ServerContext
from rush.server.output import close_quietly


def take_bodies(
    ctx: ServerContext, heads: list[RequestMessage], open_body: RequestMessage | None
) -> RequestMessage | None:
    """Plan the bodies of new heads, hand collected parts to their sinks; the message whose
    body must be refused (413), if any. `open_body` is the one still arriving from before."""
    if heads:
        plan = ctx.handler.body_plan
        default = ctx.limits.max_body
        for message in heads:
            limit, sink, wanted = plan(message, default)
            message.body_limit = limit
            message.body_wanted = wanted
            if (message.content_length or 0) > limit or message.body_size > limit:
                if sink is not None:
                    close_quietly(sink)
                return message
            message.body_sink = sink
    for message in (open_body, *heads) if open_body is not None else heads:
        sink = message.body_sink
        if sink is None:
            continue
        parts = message.body_parts
        if parts:
            message.body_parts = []
            refused = False
            for part in parts:
                refused = sink.write(part) or refused
            # Refused mid-body: answer 413 now, not after reading the rest. Refused in
            # the last bytes: the handler's access to the body answers it.
            if refused and not message.complete:
                return message
        if message.complete:
            sink.finish()
    return None


def refusal(
    message: RequestMessage, messages: list[RequestMessage], open_body: RequestMessage | None
) -> ProtocolError:
    """The 413 for `message`, carrying the requests of this read completed before it."""
    earlier = [open_body] if open_body is not None and open_body is not message else []
    earlier += messages[: messages.index(message)] if message in messages else messages
    error = ProtocolError(413, "request body too large")
    error.completed = [m for m in earlier if m.complete]
    return error


def plan_completed(
    ctx: ServerContext, error: ProtocolError, open_body: RequestMessage | None
) -> ProtocolError:
    """A protocol error whose completed requests have their bodies planned; one over its
    limit ends the list there and becomes the error (413)."""
    completed = error.completed
    heads = [m for m in completed if m.body_sink is None and m is not open_body]
    refused = take_bodies(ctx, heads, None)
    if refused is None:
        return error
    limit_error = ProtocolError(413, "request body too large")
    limit_error.completed = completed[: completed.index(refused)]
    return limit_error
