/* Similar past items: ask the server (engine.similarity) as the title is typed on the registration page,
   or once for the item on the assignment task; on the task, a unit can be taken into the form with a click. */
(function () {
  "use strict";
  var box = document.getElementById("similar-items");
  if (!box || !window.fetch) return;
  var body = box.querySelector(".similar-body");
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var title = document.getElementById("r-title"), content = document.getElementById("r-content");
  var last = null, timer = null;

  function ask(fields) {
    var form = new FormData();
    Object.keys(fields).forEach(function (k) { form.append(k, fields[k]); });
    if (box.dataset.apply) form.append("apply", box.dataset.apply);
    fetch(box.dataset.url, { method: "POST", body: form, credentials: "same-origin",
                             headers: { "X-CSRFToken": token } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { body.innerHTML = html; })
      .catch(function () { /* suggestions are optional: keep what is shown */ });
  }

  if (box.dataset.item) {
    ask({ item_id: box.dataset.item });
  } else if (title) {
    var changed = function () {
      var text = title.value.trim();
      if (text.length < 4 || text + (content ? content.value : "") === last) return;
      last = text + (content ? content.value : "");
      clearTimeout(timer);
      timer = setTimeout(function () { ask({ title: text, content: content ? content.value : "" }); }, 400);
    };
    title.addEventListener("input", changed);
    title.addEventListener("change", changed);
    if (content) content.addEventListener("change", changed);
    changed();
  }

  box.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-unit]");
    if (!button) return;
    var code = button.dataset.unit;
    if (button.dataset.role === "lead") {
      var select = document.getElementById("f-lead_unit");
      if (select) { select.value = code; select.dispatchEvent(new Event("change", { bubbles: true })); }
    } else {
      var check = document.querySelector('input[name="co_units"][value="' + CSS.escape(code) + '"]');
      if (check) { check.checked = true; check.dispatchEvent(new Event("change", { bubbles: true })); }
    }
    button.textContent = button.textContent.replace(/^✓ ?/, "");
    button.textContent = "✓ " + button.textContent;
  });
})();
