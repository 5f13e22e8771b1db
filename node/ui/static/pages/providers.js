// Providers: the catalog; stored ones can be added, edited, tested and deleted, YAML ones
// are read-only here. Secrets are write-only: a stored one shows as "set", and left alone
// it is kept.
import { html, useState } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, Field, useLoad } from "../components.js";

const TYPES = ["openai", "anthropic", "gemini", "azure", "vertex", "mock"];
const MASK = "<set>";

function Editor({ provider, onDone }) {
  const [form, setForm] = useState({
    key: provider ? provider.key : "", type: provider ? provider.type : "openai",
    base_url: provider ? provider.base_url : "", model: provider ? provider.model : "",
    models: provider ? (provider.models || []).join(", ") : "", api_key: "",
  });
  const [error, setError] = useState(null);
  const set = (name) => (value) => setForm({ ...form, [name]: value });
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const body = { ...(provider || {}), type: form.type, base_url: form.base_url, model: form.model,
      models: form.models.split(",").map((m) => m.trim()).filter(Boolean) };
    delete body.key; delete body.source; delete body.peers;
    if (form.api_key) body.api_key = form.api_key;
    else if (!provider || provider.api_key !== MASK) delete body.api_key;
    try {
      await api(`providers/${encodeURIComponent(form.key)}`, { method: "PUT", body });
      onDone(form.key);
    } catch (err) { setError(err); }
  };
  const fieldError = (name) => error && error.param === name ? error.message : "";
  return html`<form onSubmit=${save} class="panel" aria-label=${provider ? `Edit provider ${provider.key}` : "Add a provider"}>
    <h3>${provider ? `Edit ${provider.key}` : "Add a provider"}</h3>
    <${Field} label="Key" value=${form.key} onInput=${set("key")} disabled=${!!provider} required
      error=${fieldError("key")} hint="The name clients use: key/model." />
    <label for="provider-type">Type</label>
    <select id="provider-type" value=${form.type} onChange=${(e) => set("type")(e.target.value)}>
      ${TYPES.map((t) => html`<option value=${t}>${t}</option>`)}</select>
    <${Field} label="Base URL" value=${form.base_url} onInput=${set("base_url")} error=${fieldError("base_url")}
      hint="Empty: the vendor's public URL." />
    <${Field} label="API key" type="password" value=${form.api_key} onInput=${set("api_key")}
      error=${fieldError("api_key")} autocomplete="off"
      hint=${provider && provider.api_key === MASK ? "Set ✓ — leave empty to keep it, or type a new one to replace it." : "Write-only: never shown again."} />
    <${Field} label="Default model" value=${form.model} onInput=${set("model")} error=${fieldError("model")} />
    <${Field} label="Models (comma separated)" value=${form.models} onInput=${set("models")} error=${fieldError("models")} />
    ${error && !error.param && html`<${Banner} error=${error} />`}
    <p><button class="primary" type="submit">Save provider</button>
      <button type="button" onClick=${() => onDone(null)}>Cancel</button></p>
  </form>`;
}

function Row({ p, onEdit, onChanged }) {
  const [result, setResult] = useState(null);
  const [models, setModels] = useState(null);
  const test = async () => {
    setResult({ busy: true });
    try { setResult(await api(`providers/${encodeURIComponent(p.key)}/test`, { method: "POST" })); }
    catch (err) { setResult({ ok: false, error: err.message }); }
  };
  const discover = async () => {
    try { setModels((await api(`providers/${encodeURIComponent(p.key)}/upstream-models`)).data.map((m) => m.id)); }
    catch (err) { setModels({ error: err.message }); }
  };
  const remove = async () => {
    if (!confirm(`Delete provider ${p.key}?`)) return;
    try { await api(`providers/${encodeURIComponent(p.key)}`, { method: "DELETE" }); onChanged(); }
    catch (err) { setResult({ ok: false, error: err.message }); }
  };
  return html`<tr data-provider=${p.key}><td>${p.key}</td><td>${p.type}</td><td>${p.base_url || "(default)"}</td>
    <td>${p.model}</td><td>${(p.models || []).length}</td>
    <td>${p.source === "yaml" ? html`<span title="Defined in at.yaml">YAML (read-only)</span>` : "stored"}</td>
    <td><button type="button" onClick=${test}>Test</button>
      <button type="button" onClick=${discover}>Discover models</button>
      ${p.source !== "yaml" && html`<button type="button" onClick=${() => onEdit(p)}>Edit</button>
        <button type="button" class="danger" onClick=${remove}>Delete</button>`}
      ${result && (result.busy ? html`<div role="status">Testing…</div>` : html`<div role="status" data-test-result=${result.ok ? "ok" : "failed"}
        class=${result.ok ? "" : "error"}>${result.ok ? `OK: ${result.status} in ${result.latency_ms} ms` : `Failed: ${result.error}`}</div>`)}
      ${models && html`<div class=${models.error ? "error" : "hint"}>${models.error || `Upstream models: ${models.join(", ") || "none"}`}</div>`}
    </td></tr>`;
}

export default function Providers() {
  const { data, error, reload } = useLoad(() => api("providers"), []);
  const [editing, setEditing] = useState(undefined);
  const done = () => { setEditing(undefined); reload(); };
  return html`<h2>Providers</h2><${Banner} error=${error} retry=${reload} />
    ${editing !== undefined ? html`<${Editor} provider=${editing} onDone=${done} />`
      : html`<p><button type="button" class="primary" onClick=${() => setEditing(null)}>Add provider</button>
        <span class="hint"> Providers from at.yaml are read-only here: change them in the file.</span></p>`}
    ${data && html`<div class="table-wrap"><table><thead><tr><th scope="col">Key</th><th scope="col">Type</th>
      <th scope="col">Base URL</th><th scope="col">Default model</th><th scope="col">Models</th>
      <th scope="col">Source</th><th scope="col">Actions</th></tr></thead><tbody>
      ${data.data.map((p) => html`<${Row} key=${p.key} p=${p} onEdit=${setEditing} onChanged=${reload} />`)}
      </tbody></table></div>
      ${data.invalid.map((b) => html`<p class="error">Provider ${b.key} is invalid: ${b.error}</p>`)}`}`;
}
