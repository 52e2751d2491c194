"""Business dates are taken in the provider's time zone, never the server's."""

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import holidays

from ..settings import Settings, get_settings


def provider_today(tz_name: str | None = None) -> date:
    return datetime.now(ZoneInfo(tz_name or get_settings().timezone)).date()


def provider_calendar(settings: Settings) -> Callable[[date], str | None]:
    """The provider's holidays (national, and its state's with ATIVA_HOLIDAY_SUBDIVISION): the
    holiday's name on a date, or None."""
    return holidays.country_holidays("BR", subdiv=settings.holiday_subdivision).get
