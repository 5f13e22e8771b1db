// Settings: rotate the encryption key, confirmed by typing "rotate"; the session.
import { html, useState } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, Field } from "../components.js";

export default function Settings() {
  const [pass, setPass] = useState("");
  const [again, setAgain] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const mismatch = pass !== again ? "The two passphrases differ." : "";
  const rotate = async (e) => {
    e.preventDefault();
    if (mismatch || confirm !== "rotate") return;
    setBusy(true); setError(null); setResult(null);
    try {
      setResult(await api("settings/rotate-key", { method: "POST",
        body: pass ? { encryption_key: pass } : {} }));
      setPass(""); setAgain(""); setConfirm("");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<h2>Settings</h2>
    <section class="danger-zone" aria-labelledby="rotate-title">
      <h3 id="rotate-title">Rotate the encryption key</h3>
      <p class="hint">Makes a new data key and re-encrypts every stored secret. Leave the
        passphrase empty to keep the current one. Every node must be able to follow.</p>
      <form onSubmit=${rotate}>
        <${Field} label="New passphrase (optional)" type="password" value=${pass} onInput=${setPass}
          autocomplete="new-password" />
        <${Field} label="New passphrase again" type="password" value=${again} onInput=${setAgain}
          error=${mismatch} autocomplete="new-password" />
        <${Field} label='Type "rotate" to confirm' value=${confirm} onInput=${setConfirm} />
        <${Banner} error=${error} />
        <p><button class="danger" type="submit" disabled=${busy || confirm !== "rotate" || !!mismatch}>
          Rotate key</button></p>
      </form>
      ${result && html`<div role="status"><p>Rotated: key version <strong data-version>${result.version}</strong>.</p>
        <pre>${JSON.stringify(result, null, 2)}</pre></div>`}
    </section>`;
}
