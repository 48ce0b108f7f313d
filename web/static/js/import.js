/* Bulk registration: post the file asking for an NDJSON stream and show how many rows are validated.
   Without this script the form posts normally and the page answers with the result. */
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  var labels = JSON.parse(document.getElementById("import-labels").textContent);
  var box = document.getElementById("import-progress");
  var status = document.getElementById("import-status");
  var bar = document.getElementById("import-bar");
  var result = document.getElementById("import-result");
  var button = form.querySelector("button[type=submit]");

  function handle(line) {
    var msg = JSON.parse(line);
    if (msg.html !== undefined) {
      result.innerHTML = msg.html;
      box.hidden = true;
      return;
    }
    bar.max = msg.total;
    bar.value = msg.done;
    status.textContent = labels.validating.replace("{done}", msg.done).replace("{total}", msg.total);
  }

  form.addEventListener("submit", function (event) {
    if (!form.reportValidity()) return;
    event.preventDefault();
    result.innerHTML = "";
    box.hidden = false;
    bar.removeAttribute("value");
    status.textContent = labels.uploading;
    button.disabled = true;
    fetch(form.action || window.location.href, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/x-ndjson" }
    }).then(function (response) {
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffered = "";
      function pump() {
        return reader.read().then(function (chunk) {
          buffered += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
          var lines = buffered.split("\n");
          buffered = lines.pop();
          lines.filter(Boolean).forEach(handle);
          if (chunk.done) { if (buffered) handle(buffered); return; }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      status.textContent = labels.failed;
    }).then(function () {
      button.disabled = false;
      form.reset();
    });
  });
})();
