"""Business dates are taken in the provider's time zone, never the server's."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..settings import get_settings


def provider_today(tz_name: str | None = None) -> date:
    return datetime.now(ZoneInfo(tz_name or get_settings().timezone)).date()
