// Starts Swagger UI (/docs) or ReDoc (/redoc) from the vendored bundles; the pages carry no inline script (their
// Content-Security-Policy forbids it) and name the OpenAPI document in data-openapi.
(function () {
  "use strict";
  var swagger = document.getElementById("swagger-ui");
  if (swagger && window.SwaggerUIBundle) {
    window.ui = window.SwaggerUIBundle({
      url: swagger.getAttribute("data-openapi"),
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      deepLinking: true,
      showExtensions: true,
      showCommonExtensions: true,
      validatorUrl: null, // the default badge calls validator.swagger.io
      oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect",
      presets: [window.SwaggerUIBundle.presets.apis],
    });
  }
  var redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    window.Redoc.init(redoc.getAttribute("data-openapi"), {}, redoc);
  }
})();
