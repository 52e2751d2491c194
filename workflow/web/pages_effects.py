"""Tentar de novo (admin): a failed effect of a customer gets a fresh set of attempts."""

from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import FormData

from ..domain import limits
from ..domain.errors import AtivaError, NotFound
from ..usecases import effects
from . import flash
from .auth import WebUser, admin, check_csrf
from .pages_customers import CustomerId, form_data, page_with_error
from .rendering import render

router = APIRouter(include_in_schema=False)
EffectId = Path(ge=1, le=limits.MAX_ROW_ID)  # an INTEGER column: a larger id is a 404 page, not a 500


@router.post("/clientes/{customer_id}/efeitos/{effect_id}/tentar-de-novo")
def retry_effect(
    request: Request,
    customer_id: int = CustomerId,
    effect_id: int = EffectId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(admin),
):
    """Tentar de novo (admin): a failed effect gets a fresh set of attempts, as `ativa effects retry`."""
    check_csrf(user, data.get("csrf_token"))
    try:
        with request.app.state.db.write() as session:
            effects.retry_effect(session, effect_id, user.actor.name, customer_id=customer_id)
    except NotFound:
        return render(
            request,
            "message.html",
            404,
            user=user,
            title="Efeito não encontrado",
            message=f"O cliente {customer_id} não tem efeito com o número {effect_id}.",
        )
    except AtivaError:
        return page_with_error(
            request,
            user,
            customer_id,
            "Este efeito não está mais como Falhou (alguém já pediu outra tentativa); nada foi feito.",
            409,
        )
    # From the dashboard's list of failed effects, back to the dashboard.
    back_to = "/painel" if data.get("voltar") == "painel" else f"/clientes/{customer_id}"
    return flash.redirect_with(request, back_to, "nova_tentativa")
