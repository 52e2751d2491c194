"""The JSON form of each record, the same as the API's (what --json prints and tables show)."""

from ..usecases.representations import CustomerOut, EffectDetail, PlanOut, RouterOut, ServiceOut, TransitionOut


def customer_json(customer) -> dict:
    return CustomerOut.of(customer).model_dump(mode="json")


def transition_json(change, effects) -> dict:
    return TransitionOut.of(change, effects).model_dump(mode="json")


def service_json(service) -> dict:
    return ServiceOut.of(service).model_dump(mode="json")


def effect_json(effect) -> dict:
    return EffectDetail.of(effect).model_dump(mode="json")


def plan_json(plan, in_use: int) -> dict:
    return PlanOut.of(plan, in_use).model_dump(mode="json")


def router_json(router) -> dict:
    return RouterOut.of(router).model_dump(mode="json")
