// Starts Swagger UI on /docs. A file, not an inline script: the page keeps the UI's strict CSP.
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The session cookie goes along with the document's request (same origin).
    requestInterceptor: function (request) { request.credentials = "same-origin"; return request; },
  });
})();
