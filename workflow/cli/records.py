"""The JSON form of each record, the same as the API's (what --json prints and tables show)."""


def _schemas():
    # Imported on first use: it loads FastAPI (a third of a second), which most commands never need.
    from ..api import schemas

    return schemas


def customer_json(customer) -> dict:
    return _schemas().CustomerOut.of(customer).model_dump(mode="json")


def transition_json(change, effects) -> dict:
    return _schemas().TransitionOut.of(change, effects).model_dump(mode="json")


def service_json(service) -> dict:
    return _schemas().ServiceOut.of(service).model_dump(mode="json")


def effect_json(effect) -> dict:
    return _schemas().EffectDetail.of(effect).model_dump(mode="json")
