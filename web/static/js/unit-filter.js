/* 单位筛选: as a unit's name is typed, ask the server for a few units containing it (a <datalist>), and when
   the name is one of them, send that unit's id with it; the server resolves a name typed without it. */
(function () {
  "use strict";
  if (!window.fetch) return;
  document.querySelectorAll("input[data-unit-suggest]").forEach(function (input) {
    if (input.dataset.unitReady) return;  // the script is included by each filter form: bind once
    input.dataset.unitReady = "1";
    var hidden = input.form.querySelector('input[type="hidden"][name="unit"]');
    var list = document.getElementById(input.getAttribute("list"));
    var known = {};  // name -> id of the units suggested; null when two units share the name
    var asked = null, timer = null;
    if (input.dataset.unitId) known[input.value.trim()] = input.dataset.unitId;

    function pick() {
      var id = known[input.value.trim()];
      hidden.value = id || "";
    }

    function ask() {
      var text = input.value.trim();
      if (!text || text === asked) return;
      asked = text;
      fetch(input.dataset.unitSuggest + "?q=" + encodeURIComponent(text),
            { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (units) {
          if (input.value.trim() !== text) return;  // typed on since: a newer answer comes
          list.replaceChildren();
          units.forEach(function (u) {
            var option = document.createElement("option");
            option.value = u.name;
            list.appendChild(option);
            known[u.name] = u.name in known && known[u.name] !== String(u.id) ? null : String(u.id);
          });
          pick();
        })
        .catch(function () { /* suggestions are optional: the server resolves the name typed */ });
    }

    input.addEventListener("input", function () {
      pick();
      clearTimeout(timer);
      timer = setTimeout(ask, 200);
    });
  });
})();
