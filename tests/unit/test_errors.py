"""Every error the domain can raise maps to an HTTP status (no silent 400s)."""


def test_every_domain_error_code_has_an_http_status():
    from workflow.api.problems import STATUS_BY_CODE
    from workflow.domain import errors

    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.AtivaError) and cls is not errors.AtivaError
    }
    assert codes <= set(STATUS_BY_CODE), codes - set(STATUS_BY_CODE)


def test_settings_refuse_values_that_would_break_the_pipeline():
    import pytest
    from pydantic import ValidationError

    from workflow.settings import Settings

    with pytest.raises(ValidationError, match=r"effect_retry_schedule(.|\n)*'5x' is not a delay"):
        Settings(effect_retry_schedule="0,5s,5x")
    with pytest.raises(ValidationError, match="effect_retry_schedule"):
        Settings(effect_retry_schedule="0,-5s")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(timezone="Mars/Olympus")
