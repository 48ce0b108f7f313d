// The top bar's menu button, for phones (the stylesheet folds the menu below 761px). Loaded right after the
// bar: the menu is closed before the first paint. Without this script the button stays hidden and the menu
// open, so every page keeps its links.
(function () {
  var bar = document.querySelector(".topbar");
  var button = bar && bar.querySelector(".menu-toggle");
  if (!button) return;  // signed out: no menu

  function show(open) {
    bar.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  bar.classList.add("has-menu");
  button.hidden = false;
  button.addEventListener("click", function () {
    show(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && bar.classList.contains("open")) {
      show(false);
      button.focus();  // back where the keyboard user opened it
    }
  });
})();
