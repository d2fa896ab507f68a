"""The API's enums as Python enums. Values are the protobuf numbers; a number this client does not know
(sent by a newer server) becomes UNKNOWN instead of raising, and the raw number stays on the message."""

from __future__ import annotations

import enum

from genmedia.domain.jobrules import TERMINAL_STATES


class ProtoEnum(enum.IntEnum):
    """Base of the API's enums: `UNKNOWN` for numbers from a newer server, `label` for people."""

    @classmethod
    def _missing_(cls, value: object) -> ProtoEnum:
        return cls["UNKNOWN"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """`awaiting review`, `image generation`: the lower-case name, for text output."""
        return self.name.lower().replace("_", " ")

    @classmethod
    def parse(cls, value: str | int | ProtoEnum) -> ProtoEnum:
        """A member from itself, its number, or its name in any case with `-` or `_` (`pan-left`)."""
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper().replace("-", "_")]
        except KeyError:
            names = ", ".join(m.name.lower() for m in cls if m.value > 0)
            raise ValueError(f"{value!r} is not one of {names}") from None


class JobKind(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    IMAGE = 1
    VIDEO = 2
    BATCH = 3
    NULL = 4


class JobState(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    PENDING = 1
    RUNNING = 2
    RETRYING = 3
    AWAITING_REVIEW = 4
    PAUSED = 5
    COMPLETED = 6
    FAILED = 7
    CANCELLED = 8

    @property
    def terminal(self) -> bool:
        """The job has ended and will not change again."""
        return self.value in TERMINAL_STATES


class JobStep(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    VALIDATING = 1
    IMAGE_GENERATION = 2
    REVIEW = 3
    VIDEO_GENERATION = 4
    FINALIZING = 5


class Motion(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    ZOOM_IN = 1
    ZOOM_OUT = 2
    PAN_LEFT = 3
    PAN_RIGHT = 4


class BatchStrategy(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    PARALLEL = 1
    SEQUENTIAL = 2


class ReviewDecision(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    APPROVE = 1
    REJECT = 2


class EventType(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    CREATED = 1
    STARTED = 2
    STEP_STARTED = 3
    PROGRESS = 4
    STEP_FINISHED = 5
    RETRYING = 6
    AWAITING_REVIEW = 7
    REVIEWED = 8
    PAUSED = 9
    RESUMED = 10
    COMPLETED = 11
    FAILED = 12
    CANCELLED = 13
    RETRIED = 14


class NotifyChannel(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    WEBHOOK = 1
    SLACK = 2
    EMAIL = 3


class DeliveryState(ProtoEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0
    PENDING = 1
    DELIVERED = 2
    FAILED = 3


# Each enum with the protobuf enum it mirrors and that enum's value prefix (checked by a unit test).
PROTO_NAMES = {
    JobKind: ("JobKind", "JOB_KIND_"), JobState: ("JobState", "JOB_STATE_"), JobStep: ("JobStep", "JOB_STEP_"),
    Motion: ("Motion", "MOTION_"), BatchStrategy: ("BatchStrategy", "BATCH_STRATEGY_"),
    ReviewDecision: ("ReviewDecision", "REVIEW_DECISION_"), EventType: ("EventType", "EVENT_TYPE_"),
    NotifyChannel: ("NotifyChannel", "NOTIFY_CHANNEL_"), DeliveryState: ("DeliveryState", "DELIVERY_STATE_"),
}
