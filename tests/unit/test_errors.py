"""Every error the domain can raise maps to an HTTP status (no silent 400s)."""


def test_every_domain_error_code_has_an_http_status():
    from workflow.api.problems import STATUS_BY_CODE
    from workflow.domain import errors

    codes = {cls.code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.AtivaError) and cls is not errors.AtivaError}
    assert codes <= set(STATUS_BY_CODE), codes - set(STATUS_BY_CODE)
