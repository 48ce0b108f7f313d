// Starts Swagger UI on /api/v1/docs from a file of ours: the site's Content-Security-Policy runs no inline script.
(function () {
  var box = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: box.dataset.spec, dom_id: "#swagger-ui", deepLinking: true });
})();
