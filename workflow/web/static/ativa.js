// Editar: offer only the reasons that fit the chosen Ativo, and the extra fields that go with
// the chosen reason. The server checks everything again; without this script every field shows
// and the form still works.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("editar");
  if (!form) return;
  const ativo = form.querySelector("#ativo");
  const motivo = form.querySelector("#motivo");
  const sync = () => {
    const changing = ativo.value !== ativo.dataset.current;
    for (const group of motivo.querySelectorAll("optgroup")) {
      group.disabled = !changing || group.dataset.for !== ativo.value;
    }
    if (motivo.selectedOptions[0] && motivo.selectedOptions[0].parentElement.disabled) motivo.value = "";
    for (const field of form.querySelectorAll("[data-reason]")) {
      field.hidden = !(changing && field.dataset.reason === motivo.value) && !field.classList.contains("invalid");
      // A hidden field's leftover value is not sent: it would only earn a refusal about a field not shown.
      for (const input of field.querySelectorAll("input")) input.disabled = field.hidden;
    }
  };
  ativo.addEventListener("change", sync);
  motivo.addEventListener("change", sync);
  sync();
});
