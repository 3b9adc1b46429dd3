"""When a Job Schedule's cron expression fires, as instants, in its own IANA time zone.

croniter walks the expression's wall-clock times (naive, in the schedule's zone); this module turns
each into the instant(s) it names, with ISC (Vixie) cron's rules for daylight-saving changes:

- spring forward (a wall time that does not exist, 02:30 in America/New_York on the change day):
  a job with a fixed minute and hour runs once, shifted forward by the gap (at 03:30 EDT); a job
  whose minute or hour field starts with `*` (every N minutes, every hour) follows the clock, which
  skips that hour, so it has no run in it;
- fall back (a wall time that happens twice, 01:30): a fixed-time job runs once, at the first;
  a job whose minute or hour field starts with `*` runs in both passes, since real time goes on.

Occurrences that name the same instant (`30 2,3 * * *` on the spring-forward day) are one
occurrence. Only five-field expressions (or nicknames such as @daily) are accepted: schedules fire
at minute precision, so a seconds field could not be honoured.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .errors import InvalidInputError

MAX_CRON_LENGTH = 100
MAX_TIMEZONE_LENGTH = 64
# ISC cron treats clock changes under three hours as daylight saving; we look back that far for the
# second pass of a repeated hour.
_DST_REACH = timedelta(hours=3)
_MAX_STEPS = 1_000  # occurrences walked to find the latest due one before jumping ahead


def valid_cron(expression: object) -> str:
    """The expression, stripped, if croniter accepts it with five fields and it ever fires."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInputError("cron_expression is required, e.g. '0 2 * * *'")
    text = " ".join(expression.split())
    if len(text) > MAX_CRON_LENGTH:
        raise InvalidInputError(f"cron_expression is over {MAX_CRON_LENGTH} characters")
    try:
        fields = croniter(text).expressions
        if len(fields) != 5:
            raise InvalidInputError(
                f"cron_expression {text!r} has {len(fields)} fields; use five (minute hour day month weekday)"
                " or a nickname such as @daily: schedules fire at minute precision"
            )
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (ValueError, KeyError, TypeError) as exc:  # croniter's errors are ValueErrors; odd input others
        raise InvalidInputError(f"cron_expression {text!r} is not valid: {exc}") from None
    return text


def valid_zone(name: object) -> ZoneInfo:
    """The IANA time zone `name` (e.g. Europe/Berlin, UTC)."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_TIMEZONE_LENGTH:
        raise InvalidInputError(f"timezone must be an IANA time zone name of at most {MAX_TIMEZONE_LENGTH} characters")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(f"Unknown timezone {name!r}: use an IANA name such as Europe/Berlin") from None


def _follows_clock(expression: str) -> bool:
    """ISC cron's "wildcard" jobs: minute or hour field starting with `*`."""
    minute, hour = croniter(expression).expressions[:2]
    return str(minute).startswith("*") or str(hour).startswith("*")


def _instants(wall: datetime, zone: ZoneInfo, follows_clock: bool) -> list[datetime]:
    """The UTC instant(s) the wall time `wall` (naive, in `zone`) names, by the rules above."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
    if first.astimezone(zone).replace(tzinfo=None) != wall:  # does not exist (spring forward)
        return [] if follows_clock else [first]  # fold=0 keeps the earlier offset: shifted by the gap
    if first != second and follows_clock:  # happens twice (fall back)
        return [first, second]
    return [first]


def occurrences_after(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every occurrence strictly after the aware instant `after`, in order, as aware UTC times."""
    follows_clock = _follows_clock(expression)
    walk = croniter(expression, (after.astimezone(zone) - _DST_REACH).replace(tzinfo=None))
    last = after.astimezone(timezone.utc)
    pending: list[datetime] = []
    while True:
        wall = walk.get_next(datetime)
        pending = sorted(set(pending).union(i for i in _instants(wall, zone, follows_clock) if i > last))
        # An instant is final once no later wall time can name an earlier one.
        horizon = wall.replace(tzinfo=zone).astimezone(timezone.utc) - _DST_REACH
        while pending and pending[0] <= horizon:
            last = pending.pop(0)
            yield last


def next_occurrence(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first occurrence strictly after `after` (aware UTC)."""
    return next(occurrences_after(expression, zone, after))


def latest_due(expression: str, zone: ZoneInfo, first_due: datetime, now: datetime) -> tuple[datetime, int]:
    """The latest occurrence from `first_due` (an occurrence) up to `now`, and how many earlier ones
    it passes over. After a long outage of a frequent schedule the count stops at _MAX_STEPS."""
    latest, passed = first_due, 0
    for occurrence in occurrences_after(expression, zone, first_due):
        if occurrence > now:
            return latest, passed
        latest, passed = occurrence, passed + 1
        if passed >= _MAX_STEPS:
            break
    jump = now - timedelta(days=1)  # the latest is found from a day back (a daily job's reach)
    for occurrence in occurrences_after(expression, zone, max(jump, latest)):
        if occurrence > now:
            return latest, passed
        latest = occurrence
    return latest, passed
