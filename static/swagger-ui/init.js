// Starts Swagger UI on /docs from a file, not an inline script: the CSP allows only the app's own scripts.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
