// About: version, health and readiness of this node, and where the metrics are.
import { html } from "../vendor/preact-htm-10.27.2.js";
import { Banner, useLoad } from "../components.js";

async function get(path) {
  const response = await fetch(new URL(path, new URL("../", document.baseURI)));
  return { status: response.status, body: await response.json() };
}

export default function About() {
  const health = useLoad(() => get("health"), []);
  const ready = useLoad(() => get("ready"), []);
  return html`<h2>About</h2>
    <${Banner} error=${health.error || ready.error} retry=${() => { health.reload(); ready.reload(); }} />
    ${health.data && html`<p>at-gateway <strong data-version>${health.data.body.version}</strong>,
      up ${Math.round(health.data.body.uptime_seconds)} s.</p>`}
    ${ready.data && html`<h3>Readiness: ${ready.data.body.status}</h3>
      <pre>${JSON.stringify(ready.data.body.checks, null, 2)}</pre>`}
    <p><a href="../metrics">Prometheus metrics</a> · <a href="../api/v1/openapi.json">OpenAPI description</a></p>`;
}
